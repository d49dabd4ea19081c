#!/usr/bin/env bash
# Makes, on a machine without a GPU, the build folder that tools/gpu-check.sh
# runs on the GPU machine (H100/H200, sm_90): the CUDA tests and benches,
# linked against shared motive libraries (found through $ORIGIN/../lib), with
# beside them in lib/ the Google Benchmark library the GPU machine lacks, and
# in data/ an excerpt of Fashion-MNIST (the first 1,024 images of each split)
# for the GPU training tests, in case the machine has no Debian data-set package.
# Binaries and libraries are stripped; what has to travel is bin/, lib/ and
# data/ (the object files stay here), and the script prints their size, which
# must stay under 64 MiB. The CPU code is built for x86-64-v3 (AVX2, FMA:
# MOTIVE_ARCH=portable), not for this machine's CPU, which the GPU machine's
# host CPU may not match. Without MPI (MOTIVE_MPI=OFF): the GPU machine has no
# Open MPI libraries for the binaries to load, and its checks run one process.
# With NCCL when CUDA's is found (the trainer and two tests link it; libnccl,
# 200 MB, is not carried: tools/gpu-check.sh finds the machine's).
#   bash tools/gpu-build.sh [BUILD_DIR]     (default build-gpu; JOBS=2 to change -j)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
JOBS=${JOBS:-2}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMOTIVE_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DMOTIVE_ARCH=portable -DBUILD_SHARED_LIBS=ON -DMOTIVE_BENCH=ON \
  -DMOTIVE_FUZZ=OFF -DMOTIVE_SANITIZE=OFF -DMOTIVE_MPI=OFF >/dev/null
targets=()
for src in tests/test_cuda_*.cpp bench/bench_cuda_*.cpp; do
  targets+=("$(basename "$src" .cpp)")
done
cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}"

mkdir -p "$BUILD/lib"
# The benches need libbenchmark under its SONAME; ldd says where it lives here.
bench_lib=$(ldd "$BUILD/bin/bench_cuda_ops" | awk '/libbenchmark/ {print $1, $3; exit}')
[ -n "$bench_lib" ] || { echo "gpu-build: libbenchmark not found by ldd" >&2; exit 1; }
# (A rebuild finds the copy already in lib/ through $ORIGIN: nothing to do then.)
src=$(readlink -f "${bench_lib#* }")
dst="$BUILD/lib/${bench_lib%% *}"
[ "$src" -ef "$dst" ] || cp -L "$src" "$dst"
strip --strip-unneeded "$BUILD"/lib/*.so*
for t in "${targets[@]}"; do strip "$BUILD/bin/$t"; done

mkdir -p "$BUILD/data/fashion-mnist"
python3 - "$BUILD/data/fashion-mnist" <<'PY'
# The first 1,024 items of each file, as uncompressed IDX (the header's item
# count rewritten), which data/idx.cpp reads like the full file.
import gzip, struct, sys
src, dst, count = "/usr/share/datasets/fashion-mnist", sys.argv[1], 1024
for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
    raw = gzip.open(f"{src}/{name}.gz").read()
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    item = 1
    for d in dims[1:]:
        item *= d
    body = 4 + 4 * ndim
    with open(f"{dst}/{name}", "wb") as f:
        f.write(raw[:4] + struct.pack(f">{ndim}I", count, *dims[1:]) + raw[body:body + count * item])
PY

echo "gpu-build: carry $BUILD/bin $BUILD/lib $BUILD/data ($(du -csm "$BUILD/bin" "$BUILD/lib" "$BUILD/data" | tail -1 | cut -f1) MiB; limit 64 MiB with the working tree)"
echo "gpu-build: then on the GPU machine, from the repo root: bash tools/gpu-check.sh $BUILD LOG_DIR"
