#!/usr/bin/env bash
# Runs the CPU benches (Release build in build/) and prints each of ours next to
# its peer from the same run, with the ratio. Full JSON goes to build/bench/.
#   bash tools/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target bench_gemm bench_conv bench_train_step >/dev/null
mkdir -p build/bench
for b in bench_gemm bench_conv bench_train_step; do
  build/bin/$b --benchmark_format=json --benchmark_out=build/bench/$b.json \
    --benchmark_out_format=json >/dev/null
done
python3 - <<'PY'
import json
def rows(name):
    return {b["name"]: b for b in json.load(open(f"build/bench/{name}.json"))["benchmarks"]}
g = rows("bench_gemm")
print("| GEMM fp32 (n x n x n) | Eigen GFLOP/s | ours contiguous | ours transposed B | ours sub-block view B |")
print("|---|---|---|---|---|")
for n in (256, 512, 1024):
    e = g[f"BM_EigenGemm/{n}"]["GFLOP/s"]
    cells = [f"{e:.1f}"]
    for k in ("contiguous", "transposed", "subblock_view"):
        r = g[f"BM_MotiveGemm/{k}/{n}"]["GFLOP/s"]
        cells.append(f"{r:.1f} ({100 * r / e:.0f}%)")
    print(f"| {n} | " + " | ".join(cells) + " |")
c = rows("bench_conv")
gemm = next(v for k, v in c.items() if k.startswith("BM_EigenIm2colGemm"))["GFLOP/s"]
conv = next(v for k, v in c.items() if k.startswith("BM_Conv3x3FwdBwd"))["GFLOP/s"]
print(f"\nconv3x3 fwd+bwd (32x32x64 -> 64, batch 32): {conv:.1f} GFLOP/s = "
      f"{100 * conv / gemm:.0f}% of Eigen GEMM at the im2col size ({gemm:.1f} GFLOP/s)")
t = next(iter(rows("bench_train_step").values()))
print(f"demo CNN train step, batch 64: {t['images/s']:.0f} images/s, {t['GFLOP/s']:.1f} GFLOP/s, "
      f"{t['real_time']:.1f} ms/step")
PY
