#!/usr/bin/env bash
# Installs every Debian package motive's build, tests, benches and tools need.
# Idempotent: packages already present are skipped, and `apt-get update` runs
# only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libeigen3-dev          # CPU GEMM and vectorised kernels
  doctest-dev            # unit tests
  libstb-dev             # image decode / resize (data/image_folder.h, data/augment.h)
  libbenchmark-dev       # bench/
  libcli11-dev           # command line
  nlohmann-json3-dev     # safetensors headers, configs, logs
  zlib1g-dev             # IDX .gz readers
  dataset-fashion-mnist  # the default real data set
  clang libclang-rt-14-dev libomp-14-dev  # libFuzzer targets (clang + OpenMP), LSan runtime
  python3-matplotlib     # tools/plot_run.py
  curl                   # tools/fetch_data.sh (and its test, through file:// URLs)
  openmpi-bin libopenmpi-dev  # data-parallel training across processes (mpirun, MPI collectives)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#packages[@]} packages present"
fi
