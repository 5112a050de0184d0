#!/usr/bin/env bash
# Regenerates the fixtures of exports from current PyTorch (dynamo exporter) and LSeg's own code
# paths: golden/models/modern/, golden/ref/modern-*/ and golden/manifest-modern.json.
#   golden/make/modern/run.sh                  the committed fixtures (~2 min on one core)
#   golden/make/modern/run.sh --opsets DIR     also the combined and an image variant at every
#                                              opset 13-20 into DIR, with ONNX Runtime outputs
#                                              (not committed; see check_opsets.sh)
# Needs the committed inputs of golden/make/run.sh (golden/ref/tiny-*/.../inputs).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
if ! /usr/bin/python3 -m venv --help >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
fi
# A venv of its own, without Debian's torch 1.13 (the TorchScript fixtures' interpreter).
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/pip install -q -r requirements.txt
export PYTHONHASHSEED=0 OMP_NUM_THREADS=1
.venv/bin/python generate_modern.py "$@"
