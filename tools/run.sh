#!/usr/bin/env bash
# The README's main-job command: install dependencies, build (Release), run the
# demo: a small CNN trained on Fashion-MNIST on the CPU. Extra args go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target demo
exec build/bin/demo "$@"
