#!/usr/bin/env python3
"""Kinetics annotation CSVs -> tsn-dist file lists, and optional re-encoding for fast decoding.

Kinetics CSVs have the columns label,youtube_id,time_start,time_end,split (is_cc optional);
the videos are stored as <label dir>/<youtube_id>_<start:06d>_<end:06d>.mp4 (the layout of the
common download scripts; spaces in labels become underscores). Classes are numbered in sorted
order, as MMAction2 and PaddleVideo do.

    tools/data/kinetics_lists.py --csv kinetics400/train.csv --root /data/k400/train --out train.list \\
        --classes-out classes.txt [--drop-missing]
    tools/data/kinetics_lists.py --csv kinetics400/validate.csv --root /data/k400/val --out val.list \\
        --classes classes.txt --reencode /data/k400_short/val --short-side 256 --gop 16 --jobs 8

--reencode writes each listed video again with the ffmpeg CLI: short side scaled to
--short-side, H.264 with a keyframe every --gop frames, no audio; the list then points there
(use --reencode's directory as data.root). A short GOP makes sparse decoding cheaper: the reader
decodes from the keyframe before each sampled frame, so its work per clip grows with the GOP.
The price is size: more keyframes make bigger files (see README for measured figures).
"""
import argparse
import concurrent.futures
import csv
import os
import pathlib
import subprocess
import sys


def video_name(row):
    start, end = int(float(row["time_start"])), int(float(row["time_end"]))
    return f"{row['label'].replace(' ', '_')}/{row['youtube_id']}_{start:06d}_{end:06d}.mp4"


def reencode(src, dst, short_side, gop):
    dst.parent.mkdir(parents=True, exist_ok=True)
    scale = f"scale='if(lt(iw,ih),{short_side},-2)':'if(lt(iw,ih),-2,{short_side})'"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf", scale, "-c:v", "libx264",
           "-preset", "veryfast", "-crf", "23", "-g", str(gop), "-keyint_min", str(gop),
           "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-an", str(dst)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    return result.returncode == 0, result.stderr.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, type=pathlib.Path)
    parser.add_argument("--root", required=True, type=pathlib.Path, help="where the videos are")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="file list to write")
    classes = parser.add_mutually_exclusive_group()
    classes.add_argument("--classes", type=pathlib.Path, help="class names, one per line, to use")
    classes.add_argument("--classes-out", type=pathlib.Path, help="write the sorted class names here")
    parser.add_argument("--drop-missing", action="store_true", help="leave out videos not on disk")
    parser.add_argument("--reencode", type=pathlib.Path, help="re-encode the videos under this root")
    parser.add_argument("--short-side", type=int, default=256)
    parser.add_argument("--gop", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()

    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    missing_columns = {"label", "youtube_id", "time_start", "time_end"} - set(rows[0] if rows else {})
    if missing_columns:
        sys.exit(f"{args.csv}: missing columns {sorted(missing_columns)}")
    if args.classes:
        names = [line.strip() for line in args.classes.read_text().splitlines() if line.strip()]
    else:
        names = sorted({row["label"] for row in rows})
    index = {name: i for i, name in enumerate(names)}

    entries, missing, unknown = [], 0, 0
    for line_no, row in enumerate(rows, start=2):
        if row["label"] not in index:
            print(f"{args.csv}:{line_no}: unknown class {row['label']!r}", file=sys.stderr)
            unknown += 1
            continue
        name = video_name(row)
        if args.drop_missing and not (args.root / name).exists():
            missing += 1
            continue
        entries.append((name, index[row["label"]]))

    if args.reencode:
        def job(entry):
            return entry, reencode(args.root / entry[0], args.reencode / entry[0], args.short_side, args.gop)
        kept = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for (name, label), (ok, error) in pool.map(job, entries):
                if ok:
                    kept.append((name, label))
                else:
                    print(f"{args.root / name}: re-encoding failed: {error}", file=sys.stderr)
        print(f"re-encoded {len(kept)} of {len(entries)} videos into {args.reencode}")
        entries = kept

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(f"{name} {label}\n" for name, label in entries))
    if args.classes_out:
        args.classes_out.write_text("".join(f"{n}\n" for n in names))
    print(f"{args.out}: {len(entries)} videos, {len(names)} classes "
          f"({missing} missing on disk left out, {unknown} rows with unknown classes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
