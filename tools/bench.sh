#!/usr/bin/env bash
# Runs the CPU benches (Release build in build/) and prints each of ours next to
# its peer from the same run, with the ratio. Full JSON goes to build/bench/.
#   bash tools/bench.sh                 # every section
#   bash tools/bench.sh SECTION...      # only these: kernels attention efficientnet training
# Sections that need PyTorch skip their peer (or themselves) without the venv of
# tools/peer-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
mkdir -p build/bench
sections=("$@")
((${#sections[@]})) || sections=(kernels attention efficientnet training)
want() { [[ " ${sections[*]} " == *" $1 "* ]]; }
if want kernels; then
cmake --build build -j2 --target bench_gemm bench_conv bench_train_step >/dev/null
for b in bench_gemm bench_conv bench_train_step; do
  build/bin/$b --benchmark_format=json --benchmark_out=build/bench/$b.json \
    --benchmark_out_format=json >/dev/null
done
python3 - <<'PY'
import json
def rows(name):
    return {b["name"]: b for b in json.load(open(f"build/bench/{name}.json"))["benchmarks"]}
g = rows("bench_gemm")
print("| GEMM fp32 (n x n x n) | raw GEMM kernel GFLOP/s | ours contiguous | ours transposed B | ours sub-block view B |")
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
      f"{100 * conv / gemm:.0f}% of plain GEMMs at the im2col size ({gemm:.1f} GFLOP/s)")
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
fi

if want attention; then
# ---- attention: the fused CPU kernel, the plain composition and PyTorch's CPU SDPA ----
# Forward + backward at ViT shapes, fp32, at 2 threads (the target) and at 1
# (OMP_NUM_THREADS for motive, torch.set_num_threads for PyTorch), OpenMP
# threads of both waiting passively unless OMP_WAIT_POLICY says otherwise
# (spinning costs several-fold on a shared machine). The machine may be
# shared, so the motive bench and the PyTorch peer take turns, ATTENTION_ROUNDS
# times (3), and each cell is the median over the rounds (min-max beside it).
# The peer runs only when the venv of tools/peer-env.sh exists (it is not
# installed from here).
rounds=${ATTENTION_ROUNDS:-3}
peer_py=${MOTIVE_PEER_VENV:-$HOME/.cache/motive/peer-venv}/bin/python
wait_policy=${OMP_WAIT_POLICY:-PASSIVE}
cmake --build build -j2 --target bench_attention >/dev/null
peer=1
[[ -x "$peer_py" ]] && "$peer_py" -c 'import torch' 2>/dev/null || peer=0
for threads in 2 1; do
  for ((i = 0; i < rounds; ++i)); do
    OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=$wait_policy build/bin/bench_attention \
      --benchmark_format=json --benchmark_out_format=json \
      --benchmark_out=build/bench/bench_attention.t$threads.$i.json >/dev/null
    if ((peer)); then
      OMP_WAIT_POLICY=$wait_policy "$peer_py" bench/peers/pytorch_attention.py \
        --threads $threads --out build/bench/pytorch_attention.t$threads.$i.json >/dev/null
    fi
  done
done
python3 - "$rounds" "$peer" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, statistics, sys
rounds, peer, load = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
# (kind, threads, (B, H, T, Dh)) -> per-round wall ms, per-round CPU ms; bytes kept
wall, cpu, kept, backend = {}, {}, {}, None
for threads in (2, 1):
    for i in range(rounds):
        for b in json.load(open(f"build/bench/bench_attention.t{threads}.{i}.json"))["benchmarks"]:
            _, kind, *args = b["name"].split("/")  # BM_Attention/fused/B:32/H:3/T:65/Dh:64/real_time
            key = (kind, threads, tuple(int(a.split(":")[1]) for a in args if ":" in a))
            wall.setdefault(key, []).append(b["real_time"])
            cpu.setdefault(key, []).append(b["cpu_ms"])
            kept[key[::2]] = b["saved_bytes"]
        if peer:
            result = json.load(open(f"build/bench/pytorch_attention.t{threads}.{i}.json"))
            backend = result["backend"]
            for r in result["rows"]:
                key = ("pytorch", threads, (r["b"], r["h"], r["t"], r["dh"]))
                wall.setdefault(key, []).append(r["ms"])
                cpu.setdefault(key, []).append(r["cpu_ms"])
med = statistics.median
def cell(values):
    return f"{med(values):.2f} ({min(values):.2f}-{max(values):.2f})" if values else "skipped"
def ratio(table, slower, faster):
    return f"{med(table[slower]) / med(table[faster]):.2f}x" if slower in table else "-"
print("\n| attention fwd+bwd fp32: B, H, T, Dh | threads | fused ms | composition ms | PyTorch "
      "SDPA ms | fused vs composition | fused vs PyTorch | CPU ms fused / composition / PyTorch |")
print("|---|---|---|---|---|---|---|---|")
for shape in sorted({s for kind, _, s in wall if kind == "fused"}, key=lambda s: s[2]):
    for threads in (2, 1):
        f, c, t = (("fused", threads, shape), ("composed", threads, shape),
                   ("pytorch", threads, shape))
        cpus = " / ".join(f"{med(cpu[k]):.2f}" if k in cpu else "-" for k in (f, c, t))
        print(f"| {', '.join(map(str, shape))} | {threads} | {cell(wall[f])} | {cell(wall[c])} | "
              f"{cell(wall.get(t, []))} | {ratio(wall, c, f)} | {ratio(wall, t, f)} | {cpus} |")
print(f"wall ms: median of {rounds} alternating rounds (min-max); a ratio above 1: the fused "
      f"kernel is faster. CPU ms: all threads, per iteration. Load average at the end {load}")
for shape in sorted({s for kind, s in kept if kind == "fused"}, key=lambda s: s[2]):
    print(f"kept for the backward beyond the output, {', '.join(map(str, shape))}: fused "
          f"{kept[('fused', shape)] / 1e3:.1f} kB, composition {kept[('composed', shape)] / 1e6:.2f} MB")
if peer:
    print(f"PyTorch's SDPA backend for these inputs: {backend}")
else:
    print("PyTorch peer skipped: no venv (bash tools/peer-env.sh makes it)")
PY
fi

if want efficientnet && PY=$(bash tools/peer-env.sh 2>/dev/null | tail -n 1) && [[ -x "$PY" ]]; then
# ---- EfficientNet (models/efficientnet/): depthwise conv2d and a train step, beside PyTorch CPU ----
# bench_efficientnet and the PyTorch peers run alternately EFFNET_ROUNDS times (default 3), all
# at EFFNET_THREADS threads (default 2) with OMP_WAIT_POLICY=PASSIVE on both sides (the machine
# may be shared); the table shows medians and the range of the per-round ratios.
effnet_rounds=${EFFNET_ROUNDS:-3}
effnet_threads=${EFFNET_THREADS:-2}
cmake --build build -j2 --target bench_efficientnet >/dev/null
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
elif want efficientnet; then
  echo "bench: no PyTorch venv (tools/peer-env.sh failed): EfficientNet tables skipped" >&2
fi

if want training; then
# ---- CPU training beside PyTorch (bench/peers/pytorch_cpu_train.py), 2 threads ----
# Each row runs ours, then the peer, back to back; the ratio is ours / PyTorch.
# The main job is `trainer train` as it runs with no flags on a CPU (spelled
# out, since any flag turns the CPU subset off); the model rows are one train
# step on a fixed batch (bench_train_step's BM_ModelStep; PyTorch in its
# faster memory layout); the conv rows are forward + backward of each resnet20
# conv (batch 128, 28x28) against the FMA peak and the 1024^3 GEMM rate (Eigen's kernel over the threads)
# measured in the same process.
if ! PY=$(bash tools/peer-env.sh 2>/dev/null | tail -n 1) || [[ ! -x "$PY" ]]; then
  echo "bench: no PyTorch venv (tools/peer-env.sh failed): training table skipped" >&2
  exit 0
fi
cmake --build build -j2 --target bench_train_step bench_conv trainer >/dev/null
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# Both sides wait passively between parallel regions unless told otherwise:
# the trainer's default (trainer/main.cpp), and what a machine shared with
# other jobs needs (spinning threads there cost several-fold).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
peer=bench/peers/pytorch_cpu_train.py
for m in resnet20 resnet20x0.5 resnet18-cifar vit-ti-p4; do
  build/bin/bench_train_step --benchmark_filter="BM_ModelStep/$m/" --benchmark_format=json \
    --benchmark_out="build/bench/step_$m.json" --benchmark_out_format=json >/dev/null
  case $m in
    resnet18-cifar | vit-*) args=(--batch 32 --size 32 --channels 3) ;;
    *) args=() ;;
  esac
  "$PY" $peer step --model "$m" --threads "$OMP_NUM_THREADS" "${args[@]}" \
    --out "build/bench/peer_step_$m.json" >/dev/null
done
layout=$(python3 -c 'import json; print(json.load(open("build/bench/peer_step_resnet20.json"))["layout"])')
rm -rf build/bench/job
build/bin/trainer train --device cpu --limit-train 12000 --limit-test 2000 --quiet \
  --out build/bench/job
"$PY" $peer job --layout "$layout" --threads "$OMP_NUM_THREADS" --out build/bench/peer_job.json \
  >/dev/null
build/bin/bench_conv --benchmark_filter='FmaPeak|GemmRate|ResNet20Conv' --benchmark_format=json \
  --benchmark_out=build/bench/conv_shapes.json --benchmark_out_format=json >/dev/null
python3 - "$OMP_NUM_THREADS" "$OMP_WAIT_POLICY" <<'PY'
import datetime, json, sys
def load(path):
    return json.load(open(path))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"\nCPU training, {sys.argv[1]} threads, OMP_WAIT_POLICY={sys.argv[2]}, fp32, "
      f"{datetime.date.today()}, {cpu}, load average {open('/proc/loadavg').read().split()[0]}")
print("\n| run | motive img/s | PyTorch img/s | motive / PyTorch |")
print("|---|---|---|---|")
ours = load("build/bench/job/summary.json")["images_per_second"]
peer = load("build/bench/peer_job.json")
print(f"| main job: resnet20x0.5 in resnet20, loss-decrease:1 (12,000 images x 3 epochs, batch 128) "
      f"| {ours:,.0f} | {peer['images_per_second']:,.0f} ({peer['layout']}) | {ours / peer['images_per_second']:.2f}x |")
for m, what in (("resnet20", "batch 128, 28x28x1"), ("resnet20x0.5", "batch 128, 28x28x1"),
                ("resnet18-cifar", "batch 32, 32x32x3"), ("vit-ti-p4", "batch 32, 32x32x3")):
    o = load(f"build/bench/step_{m}.json")["benchmarks"][0]["images/s"]
    p = load(f"build/bench/peer_step_{m}.json")
    print(f"| {m} train step ({what}) | {o:,.0f} | {p['images_per_second']:,.0f} ({p['layout']}) | {o / p['images_per_second']:.2f}x |")
rows = {b["name"]: b for b in load("build/bench/conv_shapes.json")["benchmarks"]}
peak = next(v for k, v in rows.items() if k.startswith("BM_FmaPeak"))["GFLOP/s"]
gemm = next(v for k, v in rows.items() if k.startswith("BM_GemmRate"))["GFLOP/s"]
print(f"\nmeasured FMA peak {peak:.0f} GFLOP/s, GEMM 1024^3 {gemm:.0f} GFLOP/s ({100 * gemm / peak:.0f}% of peak)")
print("\n| resnet20 conv, batch 128 (fwd + bwd) | GFLOP/s | % of FMA peak | % of GEMM rate |")
print("|---|---|---|---|")
for k, v in rows.items():
    if k.startswith("BM_ResNet20Conv/"):
        name = k.split("/")[1]
        g = v["GFLOP/s"]
        print(f"| {name} | {g:.1f} | {100 * g / peak:.0f}% | {100 * g / gemm:.0f}% |")
PY
fi
