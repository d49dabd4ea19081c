#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/fuzz_*.cpp) with clang in
# build-fuzz/ and runs each for SECONDS seconds (default 30). Exits non-zero
# when a build fails or a fuzzer finds a crash; the crashing input is left in
# build-fuzz/fuzz-artifacts/.
#   usage: tools/fuzz.sh [SECONDS]
set -euo pipefail

seconds=${1:-30}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-fuzz"
jobs=${FUZZ_JOBS:-2}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DMOTIVE_FUZZ=ON -DMOTIVE_BENCH=OFF -DMOTIVE_CUDA=OFF
cmake --build "$build" -j"$jobs" --target fuzzers

mkdir -p "$build/fuzz-artifacts"
status=0
for src in "$root"/tests/fuzz/fuzz_*.cpp; do
  target=$(basename "$src" .cpp)
  name=${target#fuzz_}
  # New inputs go to the first (scratch) corpus dir; the checked-in seeds stay untouched.
  corpus=("$build/fuzz-corpus/$name")
  mkdir -p "${corpus[0]}"
  [[ -d "$root/tests/fuzz/corpus/$name" ]] && corpus+=("$root/tests/fuzz/corpus/$name")
  dict=()
  [[ -f "$root/tests/fuzz/$target.dict" ]] && dict=(-dict="$root/tests/fuzz/$target.dict")
  echo "fuzz: $target for ${seconds}s"
  if ! "$build/bin/$target" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$target-" "${dict[@]}" "${corpus[@]}"; then
    echo "fuzz: $target FAILED (inputs in $build/fuzz-artifacts/)" >&2
    status=1
  fi
done
exit $status
