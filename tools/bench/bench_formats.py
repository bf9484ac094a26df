#!/usr/bin/env python3
"""The R50 recipe's input pipeline from each data format, side by side in one run, on one core.

Makes (once, under --work) the 340x256 synthetic set at GOP 30 and at x264's default GOP (250),
the GOP 30 clips re-encoded all-intra at the same size (ffmpeg, libx264 keyint=1, veryfast,
crf 23: our writer's settings), the GOP 30 set packed into shards (tsn_pack, short side 256,
quality 90: the frames as stored are the 340x256 frames) and the same JPEG files as rawframes
folders (MMAction2's layout, img_00001.jpg...). Then, each pinned to --core with one worker:
`tsn_bench load` (configs/tsn_r50_k400_seg3.toml) on every format; on shards also two workers on
two cores; the Python peers reading the same JPEG frames (bench_load_peers.py --shards:
torchvision's decode_jpeg with transforms v2, OpenCV's imdecode with the same crops);
`tsn_bench jpeg` (size and PSNR for qualities 75-95); and tsn_pack's own speed on one core.
Prints one JSON object: every run's JSON, and the ratios the goals of issue 29 name.

  tools/bench/fetch_load_peers.sh          # the Python peers (torch 2.11, OpenCV), once
  tools/bench/bench_formats.py [--work build/bench-formats] [--core 1] [--clips 960]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "bin")
CONFIG = os.path.join(ROOT, "configs", "tsn_r50_k400_seg3.toml")
SYNTH = ["--classes", "2", "--videos-per-class", "11", "--val-fraction", "0.05", "--width",
         "340", "--height", "256", "--fps", "30", "--seconds", "10", "--seed", "1"]
KINETICS_TRAIN_VIDEOS = 240_000   # Kinetics-400's training set, about
KINETICS_SECONDS = 10             # its clips' length
H100_CLIPS_PER_S = (1300, 1600)   # R50 TSN on one H100 / H200 (issue 29)


def log(msg):
    print(f"[formats] {msg}", file=sys.stderr, flush=True)


def run(cmd, core=None, env=None, **kw):
    """Runs cmd (pinned to `core` when given); returns (stdout, seconds). Fails loudly."""
    t0 = time.perf_counter()
    pre = (lambda: os.sched_setaffinity(0, core)) if core is not None else None
    p = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pre,
                       env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})), **kw)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return p.stdout, time.perf_counter() - t0


def json_of(stdout):
    return json.loads(stdout[stdout.index("{"):])


def make_sets(work):
    """The formats' data under `work`; returns {name: (list, root, format)}."""
    sets = {}
    for name, gop in (("gop30", 30), ("gop250", 250)):
        d = os.path.join(work, name)
        if not os.path.exists(os.path.join(d, "train.list")):
            log(f"tsn_synth {name}")
            run([os.path.join(BIN, "tsn_synth"), "--out", d, "--gop", str(gop), *SYNTH])
        sets[name] = (os.path.join(d, "train.list"), d, "video")
    src = os.path.join(work, "gop30")
    intra = os.path.join(work, "intra")
    if not os.path.exists(os.path.join(intra, "train.list")):
        log("ffmpeg: all-intra re-encode")
        with open(os.path.join(src, "train.list")) as f:
            lines = [line.split() for line in f if line.strip()]
        for path, _ in lines:
            os.makedirs(os.path.dirname(os.path.join(intra, path)), exist_ok=True)
            run(["ffmpeg", "-v", "error", "-y", "-i", os.path.join(src, path), "-c:v", "libx264",
                 "-preset", "veryfast", "-crf", "23", "-x264-params", "keyint=1", "-an",
                 os.path.join(intra, path)])
        shutil.copy(os.path.join(src, "train.list"), os.path.join(intra, "train.list"))
    sets["intra"] = (os.path.join(intra, "train.list"), intra, "video")
    shards = os.path.join(work, "shards")
    if not os.path.exists(os.path.join(shards, "manifest.json")):
        log("tsn_pack")
        run([os.path.join(BIN, "tsn_pack"), "--list", os.path.join(src, "train.list"), "--root",
             src, "--out", shards, "--short-side", "256", "--quality", "90", "--threads", "2"])
    sets["shards"] = (os.path.join(shards, "manifest.json"), "", "shards")
    raw = os.path.join(work, "rawframes")
    if not os.path.exists(os.path.join(raw, "train.list")):
        log("rawframes from the shards' JPEG files")
        labels = {}
        with open(os.path.join(src, "train.list")) as f:
            for k, line in enumerate(x for x in f if x.strip()):
                labels[k] = line.split()[1]
        counts = {}
        with open(os.path.join(shards, "manifest.json")) as f:
            manifest = json.load(f)
        for s in manifest["shards"]:
            with tarfile.open(os.path.join(shards, s["file"])) as t:
                for m in t.getmembers():
                    key, frame, _ = m.name.rsplit(".", 2)
                    os.makedirs(os.path.join(raw, key), exist_ok=True)
                    with open(os.path.join(raw, key, f"img_{int(frame) + 1:05d}.jpg"), "wb") as o:
                        o.write(t.extractfile(m).read())
                    counts[key] = counts.get(key, 0) + 1
        with open(os.path.join(raw, "train.list"), "w") as f:
            for key in sorted(counts):  # keys start with the list position
                f.write(f"{key} {counts[key]} {labels[int(key.split('_')[0])]}\n")
    sets["rawframes"] = (os.path.join(raw, "train.list"), raw, "rawframes")
    return sets


def load(list_, root, fmt, clips, workers, cores):
    cmd = [os.path.join(BIN, "tsn_bench"), "load", "--config", CONFIG, "--list", list_,
           "--set", f"data.format={fmt}", "--workers", str(workers), "--clips", str(clips)]
    if root:
        cmd += ["--root", root]
    out, _ = run(cmd, core=cores)
    return json_of(out)


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-formats"))
    ap.add_argument("--core", type=int, default=1)
    ap.add_argument("--clips", type=int, default=960, help="clips per frame-format run")
    ap.add_argument("--video-clips", type=int, default=320, help="clips per video run")
    ap.add_argument("--python-clips", type=int, default=480)
    ap.add_argument("--site", default=os.path.join(ROOT, "build-peers"))
    ap.add_argument("--torch-site", default=os.path.join(ROOT, "build-gpu", "python"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    sets = make_sets(args.work)
    one, both = {args.core}, set(range(min(2, os.cpu_count())))
    result = {"cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0][3:],
              "core": args.core, "load": {}}

    for name in ("shards", "rawframes", "gop30", "gop250", "intra"):
        list_, root, fmt = sets[name]
        clips = args.clips if fmt != "video" else args.video_clips
        log(f"tsn_bench load {name} ({clips} clips, 1 worker)")
        result["load"][name] = load(list_, root, fmt, clips, 1, one)
    log("tsn_bench load shards, 2 workers on 2 cores")
    result["load"]["shards_2_workers"] = load(*sets["shards"], 2 * args.clips, 2, both)

    log("Python peers on the same JPEG frames")
    peers, _ = run([sys.executable, os.path.join(ROOT, "tools", "bench", "bench_load_peers.py"),
                    "--shards", os.path.join(args.work, "shards"), "--clips",
                    str(args.python_clips), "--core", str(args.core), "--repeats", "1",
                    "--site", args.site, "--torch-site", args.torch_site])
    result["python_peers"] = json_of(peers)["peers"]

    log("tsn_bench jpeg (qualities 75-95)")
    list30, root30, _ = sets["gop30"]
    out, _ = run([os.path.join(BIN, "tsn_bench"), "jpeg", "--list", list30, "--root", root30,
                  "--short-side", "256", "--frames-per-video", "15"], core=one)
    result["jpeg"] = json_of(out)

    log("tsn_pack on one core, one thread")
    packed = os.path.join(args.work, "pack-speed")
    shutil.rmtree(packed, ignore_errors=True)
    _, seconds = run([os.path.join(BIN, "tsn_pack"), "--list", list30, "--root", root30, "--out",
                      packed, "--short-side", "256", "--threads", "1"], core=one)
    with open(os.path.join(packed, "manifest.json")) as f:
        manifest = json.load(f)
    videos = manifest["videos"]
    per_core = videos / seconds
    result["pack"] = {"videos": videos, "seconds": seconds, "videos_per_s_per_core": per_core,
                      "kinetics_train_hours_on_64_cores":
                          KINETICS_TRAIN_VIDEOS / (per_core * 64) / 3600}

    # Disk, per 10 s 340x256 video and for Kinetics-400's training set, all frames and at 10 fps.
    shard_bytes = du(os.path.join(args.work, "shards")) / videos
    result["disk"] = {
        "bytes_per_video": {"shards_q90_all_frames": shard_bytes,
                            "video_gop30": du(root30) / videos,
                            "video_gop250": du(sets["gop250"][1]) / videos,
                            "video_all_intra": du(sets["intra"][1]) / videos,
                            "rawframes": du(sets["rawframes"][1]) / videos},
        "kinetics_train_tb": {"shards_q90_all_frames": shard_bytes * KINETICS_TRAIN_VIDEOS / 1e12,
                              "shards_q90_10_fps": shard_bytes / 3 * KINETICS_TRAIN_VIDEOS / 1e12,
                              "video_gop250": du(sets["gop250"][1]) / videos
                                              * KINETICS_TRAIN_VIDEOS / 1e12}}

    per_core = {k: v["clips_per_s_per_core"] for k, v in result["load"].items()}
    peer_rates = {k: v["clips_per_s"] for k, v in result["python_peers"].items()
                  if "clips_per_s" in v}
    best_peer = max(peer_rates, key=peer_rates.get) if peer_rates else None
    limit = result["load"]["shards"]["decode_only"]["turbojpeg_clips_per_s"]
    result["summary"] = {
        "clips_per_s_per_core": per_core,
        "python_peers_clips_per_s": peer_rates,
        "bytes_read_per_clip": {k: v["bytes_read_per_clip"] for k, v in result["load"].items()},
        "cores_for_one_h100": {k: [round(r / v, 1) for r in H100_CLIPS_PER_S]
                               for k, v in per_core.items() if k != "shards_2_workers"},
        "shards_over_video_gop30": per_core["shards"] / per_core["gop30"],
        "shards_over_decode_only": per_core["shards"] / limit,
        "decode_only_clips_per_s": limit,
        "shards_over_best_python_peer":
            per_core["shards"] / peer_rates[best_peer] if best_peer else None,
        "best_python_peer": best_peer,
        "two_workers_over_one": result["load"]["shards_2_workers"]["clips_per_s"]
                                / result["load"]["shards"]["clips_per_s"],
        "goals": {"shards_over_video_gop30": 5.0, "shards_over_decode_only": 0.7,
                  "shards_over_best_python_peer": 1.5, "two_workers_over_one": 1.8}}
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
