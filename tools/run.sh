#!/usr/bin/env bash
# The README's main-job command: install dependencies, build (Release), run
# `trainer train`: with no arguments, resnet20x0.5 inside resnet20 on
# Fashion-MNIST under the default motivation policy, on the GPU when one is
# usable (a subset on the CPU, a few minutes). Extra args go to `trainer train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target trainer
exec build/bin/trainer train "$@"
