#!/usr/bin/env python3
"""Training clips/s of Python video loaders on the clips `tsn_bench load` loads, side by side.

Each peer (TorchCodec, decord, decord2, PyAV) runs in a subprocess of its own, pinned to one
core (--core), with one decoder thread and torch.set_num_threads(1), and does per clip what our
loader does for configs/tsn_r50_k400_seg3.toml: open the video, count its frames, TSN training
sampling (src/data/Sampling.cpp sampleTrainFrames, seglen 1), decode those frames, resize to
short side 256 (skipped when already so), one random 224 crop and one random flip per clip,
/255, normalise; every --batch clips, stack to [B, T, 3, 224, 224] float32. Decoders:
TorchCodec VideoDecoder(num_ffmpeg_threads=1, seek_mode="exact").get_frames_at; decord
VideoReader(num_threads=1).get_batch (torch bridge); PyAV thread_count=1, for each frame a seek
to the keyframe before it and decoding forward to it (index = pts * fps). --ours runs our own
benchmark command pinned the same way; it must print a JSON object with `clips_per_s`.
With --shards DIR (a tsn_pack output directory) the peers read the packed JPEG frames instead,
by offset (os.pread; each member's offset from Python's tarfile, found before timing; no CRC
check, which ours does): torchvision.io.decode_jpeg, and OpenCV's cv2.imdecode (with
cv2.setNumThreads(1)) then cvtColor to RGB; the same sampling, crop, flip and normalise.
JSON on stdout. --check-frames 0,45,299 also compares the peers' pixels for the first video.
Each child imports torch first (seconds, untimed); one untimed warm-up clip precedes the timing.

  tools/bench/fetch_load_peers.sh
  tools/bench/bench_load_peers.py --list data/bench340/gop30/train.list \
    --root data/bench340/gop30 --clips 200 \
    --ours "build/bin/tsn_bench load --config configs/tsn_r50_k400_seg3.toml --workers 1 \
            --list data/bench340/gop30/train.list --root data/bench340/gop30 --clips 200"
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

PEERS = ["torchcodec", "decord", "decord2", "pyav"]
JPEG_PEERS = ["torchvision_jpeg", "opencv_jpeg"]  # read packed shards (--shards)
MODULE = {"torchcodec": "torchcodec", "decord": "decord", "decord2": "decord", "pyav": "av",
          "torchvision_jpeg": "torchvision", "opencv_jpeg": "cv2"}
FOLDER = {"opencv_jpeg": "opencv"}  # peer -> its folder in --site (torchvision: --torch-site)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
SEGLEN = 1


def sample_train_frames(n, seg_num, rng):
    """src/data/Sampling.cpp sampleTrainFrames with ShortVideoMode::RepeatLast."""
    span = n - SEGLEN + 1
    interval = span // seg_num
    if interval > 0:
        starts = [i * interval + int(rng.integers(0, interval)) for i in range(seg_num)]
    elif span > seg_num:
        starts = sorted(int(s) for s in rng.choice(span, seg_num, replace=False))
    else:
        starts = [0] * seg_num
    return [min(s + j, n - 1) for s in starts for j in range(SEGLEN)]


def shard_members(shards_dir):
    """{video key: [(shard path, offset, size) per frame]} of a tsn_pack directory, by tarfile."""
    import tarfile
    with open(os.path.join(shards_dir, "manifest.json")) as f:
        manifest = json.load(f)
    videos = {}
    for shard in manifest["shards"]:
        path = os.path.join(shards_dir, shard["file"])
        with tarfile.open(path) as t:
            for m in t.getmembers():
                key, frame, _ = m.name.rsplit(".", 2)
                frames = videos.setdefault(key, [])
                assert int(frame) == len(frames), f"{path}: {m.name} out of order"
                frames.append((path, m.offset_data, m.size))
    return videos


def make_jpeg_reader(peer, members):
    import numpy as np
    import torch
    fds = {}

    def read(path, offset, size):
        if path not in fds:
            fds[path] = os.open(path, os.O_RDONLY)
        return os.pread(fds[path], size, offset)
    if peer == "torchvision_jpeg":
        from torchvision.io import decode_jpeg

        def decode_one(frame):
            return decode_jpeg(torch.frombuffer(bytearray(read(*frame)), dtype=torch.uint8))
    else:
        import cv2
        cv2.setNumThreads(1)

        def decode_one(frame):
            bgr = cv2.imdecode(np.frombuffer(read(*frame), np.uint8), cv2.IMREAD_COLOR)
            return torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)

    def open_video(key):
        frames = members[key]
        return len(frames), lambda idx: torch.stack([decode_one(frames[i]) for i in idx])
    return open_video


def make_reader(peer):
    """Returns open(path) -> (num_frames, decode(indices) -> uint8 [T, 3, H, W] tensor)."""
    import torch
    if peer == "torchcodec":
        from torchcodec.decoders import VideoDecoder

        def open_video(path):
            decoder = VideoDecoder(path, num_ffmpeg_threads=1, seek_mode="exact")
            return len(decoder), lambda idx: decoder.get_frames_at(idx).data
        return open_video
    if peer in ("decord", "decord2"):
        import decord
        decord.bridge.set_bridge("torch")

        def open_video(path):
            reader = decord.VideoReader(path, num_threads=1)
            return len(reader), lambda idx: reader.get_batch(idx).permute(0, 3, 1, 2)
        return open_video
    if peer == "pyav":
        import av

        def open_video(path):
            container = av.open(path)
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            tb, fps, start = stream.time_base, stream.average_rate, stream.start_time or 0
            n = stream.frames or sum(1 for p in container.demux(stream) if p.size)

            def decode_one(i):
                # The seek lands on the keyframe at or before a time by *decode* time stamp: with
                # B-frames that can be a keyframe shown just after frame i; then seek earlier.
                for back in (0, 8, 64, i):
                    target = start + int(max(i - back, 0) / fps / tb)
                    container.seek(target, stream=stream, backward=True)
                    for frame in container.decode(stream):
                        k = round((frame.pts - start) * tb * fps)
                        if k >= i:
                            break
                    if k == i:
                        return torch.from_numpy(frame.to_ndarray(format="rgb24"))
                raise RuntimeError(f"{path}: frame {i} not found")
            return n, lambda idx: torch.stack([decode_one(i) for i in idx]).permute(0, 3, 1, 2)
        return open_video
    raise ValueError(f"unknown peer {peer}")


def run_child(args, videos):
    """One peer's run in this (pinned) process; prints its JSON."""
    import numpy as np
    import torch
    from torchvision.transforms.v2 import functional as F
    torch.set_num_threads(1)
    if args.child in JPEG_PEERS:
        open_video = make_jpeg_reader(args.child, shard_members(args.shards))
    else:
        open_video = make_reader(args.child)

    if args.check_out:  # the first video's --check-frames, untransformed, for compare_frames
        idx = [int(i) for i in args.check_frames.split(",")]
        np.save(args.check_out, open_video(videos[0][0])[1](idx).numpy())

    def load(c):
        t0 = time.perf_counter()
        rng = np.random.default_rng([args.seed, c])
        n, decode = open_video(videos[c % len(videos)][0])
        x = decode(sample_train_frames(n, args.seg_num, rng))
        t1 = time.perf_counter()
        if min(x.shape[-2:]) != args.short_size:
            x = F.resize(x, [args.short_size], antialias=False)
        h, w = x.shape[-2:]
        top = int(rng.integers(0, h - args.target + 1))
        left = int(rng.integers(0, w - args.target + 1))
        x = F.crop(x, top, left, args.target, args.target)
        if rng.random() < 0.5:
            x = F.horizontal_flip(x)
        x = F.normalize(x.float().div_(255), MEAN, STD)
        return x, t1 - t0, time.perf_counter() - t1

    load(0)  # warm-up, untimed: first-call library set-up
    decode_s = transform_s = batch_s = 0.0
    batch, batches = [], 0
    start = time.perf_counter()
    for c in range(args.clips):
        x, d, t = load(c)
        decode_s, transform_s = decode_s + d, transform_s + t
        batch.append(x)
        if len(batch) == args.batch or c == args.clips - 1:
            t0 = time.perf_counter()
            out = torch.stack(batch)
            batch_s += time.perf_counter() - t0
            assert out.shape[1:] == (args.seg_num * SEGLEN, 3, args.target, args.target)
            batch, batches = [], batches + 1
    seconds = time.perf_counter() - start
    parts = {"decode": decode_s, "transform": transform_s, "batch": batch_s}
    print(json.dumps({
        "clips_per_s": args.clips / seconds, "seconds": seconds, "clips": args.clips,
        "batches": batches, "affinity": sorted(os.sched_getaffinity(0)),
        "versions": {m: __import__(m).__version__
                     for m in ("torch", "torchvision", MODULE[args.child])},
        "part_seconds": parts,
        "part_share": {k: v / sum(parts.values()) for k, v in parts.items()}}))


def run_pinned(cmd, env, core, shell=False):
    """Runs cmd pinned to core; its stdout's JSON object, or {"error": ...}."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, shell=shell, capture_output=True, text=True,
                       preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        lines = [line for line in p.stderr.splitlines() if line.strip()] or [f"exit {p.returncode}"]
        return {"error": lines[-1], "returncode": p.returncode}
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        last = [line for line in p.stdout.splitlines() if line.startswith("{")]
        out = json.loads(last[-1]) if last else {"error": f"no JSON in output: {p.stdout[-200:]!r}"}
    out.setdefault("wall_seconds", wall)
    return out


def best_of(runs):
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[-1]
    best = dict(max(good, key=lambda r: r["clips_per_s"]))
    best["all_clips_per_s"] = [r.get("clips_per_s") for r in runs]
    return best


def peer_folder(args, peer):
    """The peer's pip --target folder; None for torchvision, which --torch-site holds."""
    if peer == "torchvision_jpeg":
        return None
    return os.path.join(args.site, FOLDER.get(peer, peer))


def peer_env(args, peer):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    folders = [peer_folder(args, peer), args.torch_site]
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(f) for f in folders if f)
    return env


def compare_frames(args, saved):
    """Mean abs difference (0..255) per frame between each pair of peers' saved frames."""
    sys.path.insert(0, os.path.abspath(args.torch_site))
    import numpy as np
    frames = {p: np.load(f).astype(np.float64) for p, f in saved.items() if os.path.exists(f)}
    diffs = {f"{a}-{b}": [round(float(np.abs(frames[a][t] - frames[b][t]).mean()), 4)
                          for t in range(len(frames[a]))]
             for i, a in enumerate(frames) for b in list(frames)[i + 1:]}
    return {"frames": args.check_frames, "video": args.videos[0][0], "mean_abs_diff": diffs,
            "shapes": {p: list(f.shape) for p, f in frames.items()}}


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", help="lines 'relative/path.mp4 label'")
    ap.add_argument("--root", default=".")
    ap.add_argument("--shards", help="a tsn_pack directory: the JPEG peers read its frames")
    ap.add_argument("--clips", type=int, default=200, help="clip c loads video c %% n")
    ap.add_argument("--seg-num", type=int, default=3)
    ap.add_argument("--short-size", type=int, default=256)
    ap.add_argument("--target", type=int, default=224)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peers", default=None, help=f"comma list of {','.join(PEERS)}; "
                    "default: those installed in --site")
    ap.add_argument("--site", default="build-peers", help="tools/bench/fetch_load_peers.sh's DIR")
    ap.add_argument("--torch-site", default="build-gpu/python", help="tools/gpu/fetch_torch.sh's")
    ap.add_argument("--ours", default=None, help="shell command printing JSON with clips_per_s")
    ap.add_argument("--core", type=int, default=0, help="CPU every run is pinned to")
    ap.add_argument("--repeats", type=int, default=2, help="runs per loader; best reported")
    ap.add_argument("--check-frames", default=None, help="e.g. 0,45,299: compare peers' pixels")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--check-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.shards:
        args.videos = [(key, 0) for key in shard_members(args.shards)]
    elif args.list:
        with open(args.list) as f:
            args.videos = [(os.path.join(args.root, p), int(label))
                           for p, label in (line.rsplit(None, 1) for line in f if line.strip())]
    else:
        ap.error("--list or --shards is needed")
    if args.child:
        return run_child(args, args.videos)

    candidates = JPEG_PEERS if args.shards else PEERS
    installed = [p for p in candidates
                 if peer_folder(args, p) is None or os.path.isdir(peer_folder(args, p))]
    peers = args.peers.split(",") if args.peers else installed
    result = {"cpu": cpu_model(), "core": args.core, "list": args.list, "root": args.root,
              "shards": args.shards,
              "clips": args.clips, "repeats": args.repeats, "peers": {}}
    tmp = tempfile.TemporaryDirectory()
    saved = {}  # peer -> .npy of its --check-frames, written by its first run
    for peer in peers:
        if peer not in installed:
            result["peers"][peer] = {"error": f"not installed in {peer_folder(args, peer)}"}
            continue
        cmd = [sys.executable, __file__, *sys.argv[1:], "--child", peer]
        runs = []
        for r in range(args.repeats):
            check = []
            if args.check_frames and r == 0:
                saved[peer] = os.path.join(tmp.name, peer + ".npy")
                check = ["--check-out", saved[peer]]
            runs.append(run_pinned(cmd + check, peer_env(args, peer), args.core))
        result["peers"][peer] = best_of(runs)
        print(f"[peers] {peer}: {result['peers'][peer].get('clips_per_s', 'failed')}",
              file=sys.stderr)
    if args.ours:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        result["ours"] = best_of([run_pinned(args.ours, env, args.core, shell=True)
                                  for _ in range(args.repeats)])
    if args.check_frames:
        result["check"] = compare_frames(args, saved)

    ok = {p: r["clips_per_s"] for p, r in result["peers"].items() if "clips_per_s" in r}
    best = max(ok, key=ok.get) if ok else None
    ours = result.get("ours", {}).get("clips_per_s")
    result.update({"clips_per_s": ours, "best_peer": best,
                   "best_peer_clips_per_s": ok.get(best),
                   "ours_over_best_peer": ours / ok[best] if ours and best else None})
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
