#!/usr/bin/env bash
# The README's test command: install dependencies, build (Release), run every test.
#   bash tools/test.sh            # build/ , as in the README
#   BUILD=build-x bash tools/test.sh -DMOTIVE_CUDA=OFF   # other dir / extra cmake flags
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD" -j2
ctest --test-dir "$BUILD" --output-on-failure -j2
