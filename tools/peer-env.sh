#!/usr/bin/env bash
# Makes (once) the Python virtual environment of the PyTorch peers: torch,
# torchvision and timm from PyPI, plus safetensors and numpy. The benches'
# peer scripts (bench/peers/) and the golden-file tool (tools/golden.py) run in
# it; nothing in the build or the tests needs it.
#   bash tools/peer-env.sh            # prints the venv's python on its last line
#   PY=$(bash tools/peer-env.sh | tail -n 1); "$PY" tools/golden.py
# Where: $MOTIVE_PEER_VENV, else ~/.cache/motive/peer-venv (one venv shared by
# every checkout of the project).
set -euo pipefail
VENV=${MOTIVE_PEER_VENV:-$HOME/.cache/motive/peer-venv}
packages=(torch torchvision timm safetensors numpy)

if [[ ! -x "$VENV/bin/python" ]]; then
  # python3-venv is the only Debian package this needs.
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends python3-venv
  fi
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import torch, torchvision, timm, safetensors, numpy' 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "${packages[@]}"
fi
"$VENV/bin/python" -c 'import torch, torchvision, timm
print(f"peer-env: torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}")'
echo "$VENV/bin/python"
