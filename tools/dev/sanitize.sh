#!/usr/bin/env bash
# The sanitizer and fuzzing check. Builds tsn-dist with clang, AddressSanitizer + UBSan and
# libFuzzer (TSN_SANITIZE=address,undefined, TSN_FUZZ=ON) into build-asan/, then
#   1. runs the suites CTest labels `sanitize` under ASan + UBSan: the video, data, config and
#      checkpoint tests, and a replay of every fuzz seed and regression input;
#   2. fuzzes each target (tests/fuzz) for TSN_FUZZ_SECONDS seconds (default 60; 0 skips this),
#      starting from tests/fuzz/corpus/<target> and tests/fuzz/regressions/<target>.
# Writes build-asan/fuzz/summary.json (per target: executions, coverage edges, features, corpus
# size, peak RSS, findings). An input that crashes, trips a sanitizer or hangs lands in
# build-asan/fuzz/findings/<target>/ and fails the script: check it in under
# tests/fuzz/regressions/<target>/ with the fix.
#
#   tools/dev/sanitize.sh                      # build, sanitized tests, 60 s per fuzz target (seed 1)
#   TSN_FUZZ_SECONDS=600 TSN_FUZZ_SEED=0 tools/dev/sanitize.sh # fuzz longer, from a random seed
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${TSN_FUZZ_SECONDS:-60}
# A fixed seed makes a run repeatable (the same inputs in the same order, as far as the time
# allows); TSN_FUZZ_SEED=0 draws one, to explore further.
seed=${TSN_FUZZ_SEED:-1}
build=build-asan
tools/dev/install_deps.sh clang libclang-rt-14-dev >/dev/null
CC=clang CXX=clang++ TSN_BUILD_DIR=$build TSN_BUILD_TARGETS="config_tests video_tests data_tests \
checkpoint_tests tsn_synth fuzz_video_reader fuzz_file_list fuzz_config fuzz_checkpoint fuzz_checkpoint_seed" \
  tools/dev/build.sh -DTSN_SANITIZE=address,undefined -DTSN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo

# The sanitizers' options (CMakeLists.txt, TSN_SANITIZER_ENV) and libFuzzer's flags
# (tests/fuzz/CMakeLists.txt).
source $build/sanitizer.env
read -r -a fuzz_flags <$build/fuzz/fuzz_flags.txt
suites=(config_tests video_tests data_tests checkpoint_tests)
echo "[sanitize] ${suites[*]} and the fuzz corpus replays under ASan + UBSan"
(
  cd $build
  for suite in "${suites[@]}"; do echo "$suite"; done |
    xargs -P "$(nproc)" -I{} sh -c 'tests/{} --gtest_brief=1 >sanitize_{}.log 2>&1 && echo "[sanitize] {}: passed" || { echo "[sanitize] {}: FAILED"; cat sanitize_{}.log; exit 1; }'
  ctest --output-on-failure -j "$(nproc)" -L fuzz
)

((seconds > 0)) || exit 0
out=$build/fuzz
mkdir -p "$out"
status=0
summary=()
for target in fuzz_video_reader fuzz_file_list fuzz_config fuzz_checkpoint; do
  work=$out/work/$target findings=$out/findings/$target log=$out/$target.log
  rm -rf "$work" "$findings"
  mkdir -p "$work" "$findings"
  echo "[fuzz] $target for ${seconds} s"
  rc=0
  # Only the checkpoint reader meets the LibTorch leak lsan.supp names, whose suppression needs
  # full stacks; the others unwind fast (the video reader runs ~4x faster so).
  asan=$ASAN_OPTIONS
  [[ $target == fuzz_checkpoint ]] || asan+=:fast_unwind_on_malloc=1
  ASAN_OPTIONS=$asan "$out/$target" -max_total_time="$seconds" -seed="$seed" "${fuzz_flags[@]}" \
    -print_final_stats=1 \
    -artifact_prefix="$findings/" "$work" "tests/fuzz/corpus/$target" \
    "tests/fuzz/regressions/$target" >"$log" 2>&1 || rc=$?
  tail -n 3 "$log" | sed "s/^/[fuzz] $target: /" || true
  if ((rc != 0)); then
    status=1
    echo "[fuzz] $target FOUND A FAILURE (exit $rc): $(ls "$findings") in $findings; log: $log"
    grep -m 20 -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$log" || true
  fi
  summary+=("$(python3 - "$log" "$target" "$rc" "$findings" "$seconds" <<'PY'
import json, os, re, sys
log, target, rc, findings, seconds = sys.argv[1:]
text = open(log, errors="replace").read()
def stat(name):
    m = re.findall(r"stat::%s:\s+(\d+)" % name, text)
    return int(m[-1]) if m else None
status = re.findall(r"#\d+\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", text)
cov, ft, corp = (int(x) for x in status[-1]) if status else (None, None, None)
print(json.dumps({"target": target, "seconds": int(seconds), "exit_code": int(rc),
                  "executions": stat("number_of_executed_units"),
                  "executions_per_second": stat("average_exec_per_sec"),
                  "coverage_edges": cov, "features": ft, "corpus_inputs": corp,
                  "peak_rss_mb": stat("peak_rss_mb"),
                  "findings": sorted(os.listdir(findings))}))
PY
)")
done
printf '%s\n' "${summary[@]}" | python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in sys.stdin], indent=1))' >"$out/summary.json"
cat "$out/summary.json"
exit $status
