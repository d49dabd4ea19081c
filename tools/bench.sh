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

# ---- nesting (models issue): train steps of a nested pair, switch cost, filter packing ----
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
