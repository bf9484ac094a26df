#!/usr/bin/env python3
"""UCF101, HMDB51 and Something-Something v2 annotations -> tsn-dist file lists.

Writes train.list and val.list (`path label`, paths relative to --root, labels from 0) and
classes.txt (class names, line k = label k; tsn_infer reads it) into --out-dir.

    tools/data/dataset_lists.py ucf101 --annotations ucfTrainTestlist --split 1 --root /data/UCF-101 \\
        --out-dir lists/ucf101_split1
    tools/data/dataset_lists.py hmdb51 --annotations testTrainMulti_7030_splits --split 1 \\
        --root /data/hmdb51 --out-dir lists/hmdb51_split1
    tools/data/dataset_lists.py sthv2 --annotations labels --root /data/20bn-something-something-v2 \\
        --out-dir lists/sthv2

ucf101: classInd.txt ("1 ApplyEyeMakeup", numbered from 1) and trainlist0N.txt / testlist0N.txt
  ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"; the test lists carry no label: the folder
  names the class). The official files have CRLF line ends, and some paths spell a class with
  another case than classInd.txt (HandStandPushups): classes match case-insensitively.
hmdb51: <class>_test_split<N>.txt per class ("video.avi 1": 1 train, 2 test, 0 unused); videos
  are <class>/<video.avi>; classes are numbered in sorted order (as MMAction2 does).
sthv2: something-something-v2-labels.json ({"Approaching something ...": "0", ...}) and
  -train.json / -validation.json ([{"id": "78687", "template": "Holding [something] next to
  [something]", ...}]); videos are <id>.webm; a template without its brackets names the class.

--check-files drops entries whose video is missing under --root and says how many; without it a
missing video is reported by the loader at training time (skipped and counted).
Every malformed line or entry stops the conversion with the file and line (or entry) named.
"""
import argparse
import json
import pathlib
import re
import sys


class AnnotationError(Exception):
    pass


def read_lines(path):
    """(line number, text) of each non-blank line, CR/LF and surrounding space stripped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read: {e.strerror}") from e
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def ucf101(annotations, split):
    classes, by_name = [], {}
    for n, line in read_lines(annotations / "classInd.txt"):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(classes) + 1:
            raise AnnotationError(f"{annotations / 'classInd.txt'}:{n}: expected "
                                  f"'{len(classes) + 1} ClassName', got {line!r}")
        classes.append(parts[1])
        by_name[parts[1].lower()] = len(classes) - 1

    def entries(name, labelled):
        path = annotations / name
        out = []
        for n, line in read_lines(path):
            parts = line.split()
            video = parts[0]
            folder = video.split("/")[0].lower() if "/" in video else None
            if len(parts) != (2 if labelled else 1) or folder not in by_name:
                form = "Class/video.avi label" if labelled else "Class/video.avi"
                raise AnnotationError(f"{path}:{n}: expected '{form}' with a class of "
                                      f"classInd.txt, got {line!r}")
            label = by_name[folder]
            if labelled and (not parts[1].isdigit() or int(parts[1]) - 1 != label):
                raise AnnotationError(f"{path}:{n}: label {parts[1]} does not match the folder's "
                                      f"class {classes[label]} ({label + 1} in classInd.txt)")
            out.append((video, label))
        return out

    return classes, entries(f"trainlist0{split}.txt", True), entries(f"testlist0{split}.txt", False)


def hmdb51(annotations, split):
    files = sorted(annotations.glob(f"*_test_split{split}.txt"))
    if not files:
        raise AnnotationError(f"{annotations}: no *_test_split{split}.txt files")
    pattern = re.compile(rf"^(.+)_test_split{split}\.txt$")
    classes = sorted(pattern.match(f.name).group(1) for f in files)
    train, val = [], []
    for f in files:
        name = pattern.match(f.name).group(1)
        label = classes.index(name)
        for n, line in read_lines(f):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError(f"{f}:{n}: expected 'video.avi 0|1|2', got {line!r}")
            if parts[1] == "1":
                train.append((f"{name}/{parts[0]}", label))
            elif parts[1] == "2":
                val.append((f"{name}/{parts[0]}", label))
    return classes, train, val


def sthv2(annotations):
    def load(name):
        path = annotations / name
        try:
            return path, json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise AnnotationError(f"{path}: cannot read: {e.strerror}") from e
        except json.JSONDecodeError as e:
            raise AnnotationError(f"{path}:{e.lineno}: not JSON: {e.msg}") from e

    path, labels = load("something-something-v2-labels.json")
    if not isinstance(labels, dict):
        raise AnnotationError(f"{path}: expected an object of class name -> index")
    index = {}
    for name, value in labels.items():
        if not str(value).isdigit():
            raise AnnotationError(f"{path}: class {name!r}: index {value!r} is not a number")
        index[name] = int(value)
    if sorted(index.values()) != list(range(len(index))):
        raise AnnotationError(f"{path}: class indices are not 0..{len(index) - 1}")
    classes = [None] * len(index)
    for name, k in index.items():
        classes[k] = name

    def entries(name):
        path, items = load(name)
        if not isinstance(items, list):
            raise AnnotationError(f"{path}: expected a list of videos")
        out = []
        for k, item in enumerate(items):
            try:
                video, template = str(item["id"]), item["template"]
            except (TypeError, KeyError) as e:
                raise AnnotationError(f"{path}: entry {k}: no {e} field") from e
            label = index.get(template.replace("[", "").replace("]", ""))
            if label is None:
                raise AnnotationError(f"{path}: entry {k} (id {video}): template {template!r} "
                                      f"is no class of {annotations / 'something-something-v2-labels.json'}")
            out.append((f"{video}.webm", label))
        return out

    return classes, entries("something-something-v2-train.json"), entries(
        "something-something-v2-validation.json")


def write(out_dir, classes, splits, root, check_files):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "classes.txt").write_text("".join(c + "\n" for c in classes))
    for name, entries in splits.items():
        kept = [(v, l) for v, l in entries if not check_files or (root / v).is_file()]
        if check_files and len(kept) != len(entries):
            print(f"{name}: {len(entries) - len(kept)} of {len(entries)} videos missing under {root}: "
                  "left out", file=sys.stderr)
        (out_dir / name).write_text("".join(f"{v} {l}\n" for v, l in kept))
        print(f"{out_dir / name}: {len(kept)} videos, {len(classes)} classes")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["ucf101", "hmdb51", "sthv2"])
    parser.add_argument("--annotations", required=True, type=pathlib.Path,
                        help="folder of the data set's annotation files")
    parser.add_argument("--split", type=int, default=1, choices=[1, 2, 3],
                        help="ucf101 / hmdb51 split")
    parser.add_argument("--root", required=True, type=pathlib.Path,
                        help="video folder (data.root); paths in the lists are relative to it")
    parser.add_argument("--out-dir", required=True, type=pathlib.Path)
    parser.add_argument("--check-files", action="store_true",
                        help="leave out videos missing under --root")
    args = parser.parse_args()
    try:
        if args.dataset == "ucf101":
            classes, train, val = ucf101(args.annotations, args.split)
        elif args.dataset == "hmdb51":
            classes, train, val = hmdb51(args.annotations, args.split)
        else:
            classes, train, val = sthv2(args.annotations)
    except AnnotationError as e:
        print(f"dataset_lists.py: {e}", file=sys.stderr)
        return 2
    write(args.out_dir, classes, {"train.list": train, "val.list": val}, args.root, args.check_files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
