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

# ---- nesting (models/nest.h): train steps of a nested pair, switch cost, filter packing ----
# bench_nesting's batch-256 steps take tens of seconds each on two cores (1 iteration).
cmake --build build -j2 --target bench_nesting >/dev/null
build/bin/bench_nesting --benchmark_format=json --benchmark_out=build/bench/bench_nesting.json \
  --benchmark_out_format=json >/dev/null
python3 - <<'PY'
import json
rows = {b["name"]: b for b in json.load(open("build/bench/bench_nesting.json"))["benchmarks"]}
def step(nesting, role, batch):
    return next(v for k, v in rows.items()
                if k.startswith(f"TrainStep/{nesting}/{role}/batch:{batch}/"))
print("\n| nested pair, 32x32, SGD | batch | base step ms (images/s) | motivated step ms (images/s) | base step bytes copied |")
print("|---|---|---|---|---|")
for nesting in ("depth:resnet18_in_resnet34", "width:resnet18x0.5_in_resnet18"):
    for batch in (256, 32):
        b, m = step(nesting, "base", batch), step(nesting, "motivated", batch)
        print(f"| {nesting} | {batch} | {b['real_time']:.0f} ({b['images/s']:.1f}) | "
              f"{m['real_time']:.0f} ({m['images/s']:.1f}) | {b['bytes_copied/step'] / 1e6:.1f} MB |")
views, paper = rows["Switch/superset_views"], rows["Switch/paper_copy"]
print(f"\nswitch, resnet18 in resnet34: superset views {views['real_time'] * 1e-3:.4f} us and "
      f"{views['bytes_moved/switch']:.0f} bytes; the paper's copy (weights, BN buffers, momentum) "
      f"{paper['real_time']:.0f} us and {paper['bytes_moved/switch'] / 1e6:.1f} MB")
pack = next(v for k, v in rows.items() if k.startswith("FilterPack/"))["real_time"]
shares = ", ".join(f"{100 * pack / step('width:resnet18x0.5_in_resnet18', 'base', batch)['real_time']:.2f}% "
                   f"at batch {batch}" for batch in (256, 32))
print(f"width-nested base step (resnet18x0.5 in resnet18): filter packing {pack:.2f} ms = {shares}")
PY

# ---- EfficientNet (models/efficientnet/): depthwise conv2d and a train step, beside PyTorch CPU ----
# bench_efficientnet and the PyTorch peers run alternately EFFNET_ROUNDS times (default 3), all
# at EFFNET_THREADS threads (default 2) with OMP_WAIT_POLICY=PASSIVE on both sides (the machine
# may be shared); the table shows medians and the range of the per-round ratios.
effnet_rounds=${EFFNET_ROUNDS:-3}
effnet_threads=${EFFNET_THREADS:-2}
cmake --build build -j2 --target bench_efficientnet >/dev/null
PY=$(bash tools/peer-env.sh | tail -n 1)
for round in $(seq 1 "$effnet_rounds"); do
  OMP_NUM_THREADS=$effnet_threads OMP_WAIT_POLICY=PASSIVE build/bin/bench_efficientnet \
    --benchmark_format=json --benchmark_out=build/bench/bench_efficientnet.$round.json \
    --benchmark_out_format=json >/dev/null
  OMP_WAIT_POLICY=PASSIVE "$PY" bench/peers/pytorch_depthwise.py --threads "$effnet_threads" \
    --out build/bench/pytorch_depthwise.$round.json >/dev/null
  for model in efficientnet-b0 efficientnet-b0x0.5; do
    OMP_WAIT_POLICY=PASSIVE "$PY" bench/peers/pytorch_train_step.py --device cpu --model "$model" \
      --batch 32 --precisions fp32 --threads "$effnet_threads" --warmup 3 --chunk 3 --seconds 4 \
      --out "build/bench/pytorch_train_step.$model.$round.json" >/dev/null
  done
done
EFFNET_ROUNDS=$effnet_rounds EFFNET_THREADS=$effnet_threads python3 - <<'PY'
import json, os, statistics
rounds = range(1, int(os.environ["EFFNET_ROUNDS"]) + 1)
ours = [{b["name"]: b for b in json.load(open(f"build/bench/bench_efficientnet.{r}.json"))["benchmarks"]}
        for r in rounds]
peer = [json.load(open(f"build/bench/pytorch_depthwise.{r}.json"))["layers"] for r in rounds]
def spread(ratios):
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
print(f"\n| depthwise fwd+bwd, B0 at 224, batch 8, {os.environ['EFFNET_THREADS']} threads | blocks "
      "| ours ms | PyTorch ms (layout) | PyTorch / ours | ours GFLOP/s | im2col path GFLOP/s |")
print("|---|---|---|---|---|---|---|")
totals = [[0.0, 0.0] for _ in rounds]
for i, layer in enumerate(peer[0]):
    mine = [o[f"BM_Depthwise/{i}"] for o in ours]
    theirs = [p[i]["ms"] for p in peer]
    ratios = [t / m["real_time"] for t, m in zip(theirs, mine)]
    for k, (t, m) in enumerate(zip(theirs, mine)):
        totals[k][0] += layer["blocks"] * m["real_time"]
        totals[k][1] += layer["blocks"] * t
    im2col = statistics.median(o[f"BM_Im2colPath/{i}"]["GFLOP/s"] for o in ours)
    print(f"| {mine[0]['label']} | {layer['blocks']} | {statistics.median(m['real_time'] for m in mine):.2f} "
          f"| {statistics.median(theirs):.2f} ({layer['layout']}) | {spread(ratios)} "
          f"| {statistics.median(m['GFLOP/s'] for m in mine):.1f} | {im2col:.2f} |")
ratios = [t / m for m, t in totals]
print(f"| all of B0's depthwise layers (x blocks) | 16 | {statistics.median(m for m, _ in totals):.1f} "
      f"| {statistics.median(t for _, t in totals):.1f} | {spread(ratios)} | | |")
print(f"\n| CPU train step, 32x32x3, batch 32, {os.environ['EFFNET_THREADS']} threads | ours img/s "
      "| PyTorch img/s (layout) | ours / PyTorch |")
print("|---|---|---|---|")
for model in ("efficientnet-b0", "efficientnet-b0x0.5"):
    mine = [o[f"TrainStep/{model}/min_time:2.000"]["images/s"] for o in ours]
    best = [json.load(open(f"build/bench/pytorch_train_step.{model}.{r}.json"))["best"]["fp32"]
            for r in rounds]
    theirs = [b["images_per_s"] for b in best]
    print(f"| {model} | {statistics.median(mine):.0f} | {statistics.median(theirs):.0f} "
          f"({best[0]['layout']}) | {spread([m / t for m, t in zip(mine, theirs)])} |")
PY
