#!/usr/bin/env bash
# Regenerates every committed golden fixture deterministically.
#   golden/make/run.sh            fixtures under golden/ (trains the 'trained' model if
#                                 golden/make/build/trained_tiny.pt is absent: ~25 min on one core)
#   golden/make/run.sh --full     also full-size random vitb32 + vitl16 exports into golden/full/
#                                 (git-ignored; LSEG_FULL_ONLY=vitb32 limits it to one config)
#   golden/make/run.sh --full-only   only the full-size part
#   golden/make/run.sh --retrain  delete the cached checkpoint first
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
OPEN_CLIP_VERSION=2.26.1

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
missing=()
dpkg -s python3-torch >/dev/null 2>&1 || missing+=(python3-torch)
dpkg -s python3-venv >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# Debian's interpreter (torch 1.13 from python3-torch), not whatever python3 is first on PATH.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/pip install -q -r requirements.txt

# The reference CLIP tokenizer + BPE vocabulary come from the open_clip_torch wheel (no deps).
if [ ! -f .venv/open_clip/open_clip/tokenizer.py ]; then
  mkdir -p .venv/open_clip
  .venv/bin/pip download -q --no-deps --dest .venv/open_clip "open_clip_torch==${OPEN_CLIP_VERSION}"
  (cd .venv/open_clip && /usr/bin/python3 -m zipfile -e "open_clip_torch-${OPEN_CLIP_VERSION}-py3-none-any.whl" .)
fi

retrain=0; gen_args=()
for a in "$@"; do
  case "$a" in
    --retrain) retrain=1 ;;
    --full|--full-only) gen_args+=("$a") ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
mkdir -p build
[ $retrain -eq 1 ] && rm -f build/trained_tiny.pt
if [[ ! " ${gen_args[*]-} " =~ " --full-only " ]] && [ ! -f build/trained_tiny.pt ]; then
  echo "training the 'trained' tiny model (deterministic, one thread; log: build/train.log)"
  .venv/bin/python train.py build/trained_tiny.pt > build/train.log 2>&1
fi
export PYTHONHASHSEED=0 OMP_NUM_THREADS=1
.venv/bin/python generate.py "${gen_args[@]}"
