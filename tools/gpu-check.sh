#!/usr/bin/env bash
# The one command for a GPU machine (H100/H200): runs every CUDA test and every
# GPU bench from a build folder made elsewhere by tools/gpu-build.sh, the
# PyTorch peer beside them, writes full logs to LOG_DIR and prints a short
# table last (tools/gpu_summary.py). Run from the repository root:
#   bash tools/gpu-check.sh BUILD_DIR LOG_DIR
# A failing or hanging step never stops the later ones: each has a timeout,
# cut to what is left of a budget of GPU_CHECK_SECONDS (default 450, so the
# whole run stays under 8 minutes; a step with under 5 s left is skipped and
# reported). Exit code: 0 when every test binary passed, 1 otherwise, 2 on bad
# arguments. The bench figures are reported, not asserted.
set -u
if [ $# -ne 2 ] || [ ! -d "$1/bin" ]; then
  echo "usage: bash tools/gpu-check.sh BUILD_DIR LOG_DIR   (BUILD_DIR from tools/gpu-build.sh)" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
mkdir -p "$2" && LOGS=$(cd "$2" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2
# Shared motive libraries and Google Benchmark travel in BUILD/lib (the
# binaries' RPATH finds them too); cuBLAS/cuDNN come from the machine.
export LD_LIBRARY_PATH="$BUILD/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# NCCL (linked by the build when it found it; 200 MB, not carried): the CUDA
# toolkit's or the system's, else the one PyTorch's wheels bring.
if [ ! -e /usr/local/cuda/lib64/libnccl.so.2 ] && ! ldconfig -p 2> /dev/null | grep -q libnccl.so.2; then
  nccl_lib=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2> /dev/null)
  [ -n "$nccl_lib" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$nccl_lib"
fi
# The GPU training test reads Fashion-MNIST: the machine's Debian package when
# it has one, else the excerpt the build folder carries.
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] &&
   [ -d "$BUILD/data/fashion-mnist" ]; then
  export MOTIVE_FASHION_MNIST_DIR="$BUILD/data/fashion-mnist"
fi
export PYTHONUNBUFFERED=1
start=$SECONDS
deadline=$((start + ${GPU_CHECK_SECONDS:-450}))
stamp() { echo "[gpu-check +$((SECONDS - start))s] $*"; }
# step LIMIT COMMAND...: runs COMMAND under timeout LIMIT, or what is left of
# the budget when less; exit code 200 when the budget is spent.
step() {
  local limit=$1 left=$((deadline - SECONDS))
  shift
  [ "$left" -ge 5 ] || return 200
  [ "$left" -lt "$limit" ] && limit=$left
  timeout "$limit" "$@"
}

# ---- the machine ----
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
    --format=csv,noheader > "$LOGS/gpu.txt" 2>&1
  nvidia-smi > "$LOGS/nvidia-smi.txt" 2>&1
else
  echo "no nvidia-smi on this machine" > "$LOGS/gpu.txt"
fi
stamp "GPU: $(head -1 "$LOGS/gpu.txt")"
if [ -x "$BUILD/bin/trainer" ] && ldd "$BUILD/bin/trainer" | grep -q libnccl; then
  stamp "NCCL: $(ldd "$BUILD/bin/trainer" | awk '/libnccl/ {print $1, $2, $3}')"
fi

# ---- tests: every CUDA test binary, whole (each skips its GPU cases without a GPU) ----
: > "$LOGS/tests.tsv"
for t in "$BUILD"/bin/test_cuda_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  step 120 "$t" > "$LOGS/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\n' "$name" "$rc" >> "$LOGS/tests.tsv"
  stamp "$name: exit $rc, $(grep -a 'test cases:' "$LOGS/$name.log" | tail -1)"
done

# ---- data parallel on every GPU of the machine: one rank per GPU, NCCL
# summing the gradients (test_cuda_gradient_sync above ran a communicator of
# one GPU). It needs two GPUs, mpirun and a build with MPI; otherwise one line
# says which is missing ----
gpus=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU')
if [ "$gpus" -lt 2 ]; then
  stamp "data_parallel: skipped ($gpus GPU here; the multi-GPU step needs 2 or more)"
elif ! ldd "$BUILD/bin/trainer" | grep -q libmpi; then
  stamp "data_parallel: skipped ($gpus GPUs, but this build has no MPI: tools/gpu-build.sh builds without it)"
elif ! command -v mpirun > /dev/null; then
  stamp "data_parallel: skipped ($gpus GPUs, but no mpirun on this machine)"
else
  rm -rf "$LOGS/data-parallel"
  step 120 mpirun --allow-run-as-root -np "$gpus" "$BUILD/bin/trainer" train --device cuda \
    --limit-train 4096 --limit-test 512 --epochs 1 --batch-size $((64 * gpus)) --quiet \
    --out "$LOGS/data-parallel" > "$LOGS/data_parallel.log" 2>&1
  rc=$?
  printf '%s\t%s\n' data_parallel "$rc" >> "$LOGS/tests.tsv"
  stamp "data_parallel: exit $rc on $gpus GPUs (summary: $LOGS/data-parallel/summary.json)"
fi

# ---- a short experiment (experiments/fashion-full.json in miniature): the
# pre-training runs of one pair, exports, fine-tuning through --init-from and
# the report, a few steps each on the GPU (tools/experiment.py; its status
# counts with the tests') ----
cat > "$LOGS/experiment-short.json" <<'EOF'
{
  "name": "gpu-short", "data": "fashion-mnist", "device": "cuda",
  "chains": [["resnet20x0.5", "resnet20"]], "seeds": [0], "epochs": 1,
  "trigger": "loss-decrease:1",
  "train": {"classes": "0-4", "limit_train": 2048, "limit_test": 512},
  "args": ["--batch-size", "64", "--schedule", "constant", "--recalibrate", "4"],
  "transfer": {"classes": "5-9", "limit_train": 1024, "limit_test": 512, "epochs": 1,
               "args": ["--batch-size", "64", "--schedule", "constant"], "export_recalibrate": 4}
}
EOF
rm -rf "$LOGS/experiment-short"
step 120 python3 tools/experiment.py "$LOGS/experiment-short.json" --trainer "$BUILD/bin/trainer" \
  --out "$LOGS/experiment-short" > "$LOGS/experiment_short.log" 2>&1
rc=$?
printf '%s\t%s\n' experiment_short "$rc" >> "$LOGS/tests.tsv"
stamp "experiment_short: exit $rc (report: $LOGS/experiment-short/report.md)"

# ---- benches: the train step and its PyTorch peer first (the headline, so a
# spent budget cuts a microbenchmark rather than them), then every other bench ----
: > "$LOGS/benches.tsv"
run_bench() {
  local b=$1 name min_time=0.2  # seconds per row; rows time many launches between events
  name=$(basename "$b")
  [ "$name" = bench_cuda_train_step ] && min_time=3
  rm -f "$LOGS/$name.json"  # a rerun into the same folder must not read the last run's
  step 150 "$b" --benchmark_min_time="$min_time" --benchmark_out="$LOGS/$name.json" \
    --benchmark_out_format=json > "$LOGS/$name.log" 2>&1
  local rc=$?
  printf '%s\t%s\n' "$name" "$rc" >> "$LOGS/benches.tsv"
  stamp "$name: exit $rc"
}
[ -x "$BUILD/bin/bench_cuda_train_step" ] && run_bench "$BUILD/bin/bench_cuda_train_step"
rm -f "$LOGS/pytorch_train_step.json"
if python3 -c 'import torch, torchvision' 2> "$LOGS/pytorch_train_step.log"; then
  step 180 python3 bench/peers/pytorch_train_step.py --out "$LOGS/pytorch_train_step.json" \
    >> "$LOGS/pytorch_train_step.log" 2>&1
  rc=$?
else
  rc=127  # no PyTorch here: the table says so
fi
printf '%s\t%s\n' pytorch_train_step "$rc" >> "$LOGS/benches.tsv"
stamp "pytorch_train_step: exit $rc"
# The conv bench runs last: its cudnnFind searches are the slowest start-up,
# and a spent budget should cut it rather than the cheaper rows.
for b in "$BUILD"/bin/bench_cuda_*; do
  case "$(basename "$b")" in bench_cuda_train_step | bench_cuda_conv) continue ;; esac
  [ -x "$b" ] && run_bench "$b"
done
[ -x "$BUILD/bin/bench_cuda_conv" ] && run_bench "$BUILD/bin/bench_cuda_conv"

stamp "done"
python3 tools/gpu_summary.py "$LOGS"
# Pass = at least one test binary ran and none failed.
[ -s "$LOGS/tests.tsv" ] && ! awk -F'\t' '$2 != 0 {bad = 1} END {exit !bad}' "$LOGS/tests.tsv"
