#!/usr/bin/env bash
# Regenerates the fuzz seed corpora in tests/fuzz/corpus/ (checked in; run again when a reader
# learns a new format). Needs the ffmpeg CLI and a build with TSN_FUZZ=ON (for the checkpoint
# seed): tests/fuzz/make_seeds.sh [BUILD_DIR, default build-asan]
set -euo pipefail
cd "$(dirname "$0")"
build=${1:-../../build-asan}
corpus=corpus

# Videos: one tiny file (32x24, 8 frames) per container and codec the reader is tested with.
v=$corpus/fuzz_video_reader
rm -rf "$v" && mkdir -p "$v"
enc() { ffmpeg -v error -y -f lavfi -i testsrc2=size=32x24:rate=25 -frames:v 8 "$@"; }
enc -c:v libx264 -bf 2 -g 4 -pix_fmt yuv420p "$v/h264_bframes.mp4"
enc -c:v libx264 -g 4 -pix_fmt yuv420p10le "$v/h264_10bit.mkv"
enc -c:v libx265 -x265-params log-level=error:keyint=4:bframes=2 -pix_fmt yuv420p "$v/hevc.mkv"
enc -c:v libvpx-vp9 -g 4 -deadline realtime -cpu-used 8 "$v/vp9.webm"
enc -c:v mpeg4 -bf 2 -g 4 -q:v 5 "$v/mpeg4_bframes.avi"
enc -c:v libxvid -bf 2 -g 4 -q:v 5 "$v/xvid_packed.avi"
enc -c:v libx264 -bf 2 -g 4 -pix_fmt yuv420p "$v/h264.ts"
enc -c:v mpeg2video -bf 2 -g 4 -q:v 5 "$v/mpeg2.mpg"
enc -c:v libx264 -g 4 -pix_fmt yuv420p "$v/h264.flv"
enc -c:v wmv2 -g 4 -q:v 5 "$v/wmv2.wmv"
enc -c:v libtheora -g 4 -q:v 5 "$v/theora.ogv"
enc -c:v libx264 -bf 2 -g 4 -pix_fmt yuv420p -f h264 "$v/raw.h264"
enc -c:v libx264 -g 4 -pix_fmt yuv420p -metadata:s:v rotate=90 "$v/rotated.mp4"

# File lists: the first byte picks the format (even: videos, odd: rawframes).
l=$corpus/fuzz_file_list
rm -rf "$l" && mkdir -p "$l"
printf '0# videos\nclass_a/v1.mp4 0\n\nclass_b/v 2.mp4 3\n' >"$l/videos"
printf '1# rawframes\nframes/v1 30 0\nframes/v2 12 399\n' >"$l/rawframes"
printf '0../escape.mp4 1\n' >"$l/escape"
printf '0a.mp4 400\n' >"$l/label_out_of_range"

# Configs: the checked-in ones.
c=$corpus/fuzz_config
rm -rf "$c" && mkdir -p "$c"
cp ../../configs/*.toml "$c/"

# Checkpoints: a small whole one.
k=$corpus/fuzz_checkpoint
rm -rf "$k" && mkdir -p "$k"
"$build/fuzz/fuzz_checkpoint_seed" "$k/small.pt"
for t in fuzz_video_reader fuzz_file_list fuzz_config fuzz_checkpoint; do
  mkdir -p regressions/$t
  touch regressions/$t/.keep
done
du -sh "$corpus"
