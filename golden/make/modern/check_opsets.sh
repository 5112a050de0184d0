#!/usr/bin/env bash
# Converts and runs the per-opset exports of `run.sh --opsets DIR` with lseg-convert / lseg-run
# (debug build) and compares each with ONNX Runtime's output.
#   golden/make/modern/check_opsets.sh DIR
set -euo pipefail
DIR="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
PY=golden/make/modern/.venv/bin/python
for model in "$DIR"/*_opset*.onnx; do
  stem="${model%.onnx}"
  case "$(basename "$stem")" in
    lseg_*) inputs=(--input image=golden/ref/tiny-lseg/random3/inputs/image.npy --input tokens=golden/ref/tiny-lseg/random3/inputs/tokens.npy) ;;
    *) inputs=(--input image=golden/ref/tiny-image/random3/inputs/image.npy --input text_features=golden/ref/tiny-image/random3/inputs/text_features.npy) ;;
  esac
  if ! .build/debug/lseg-convert "$model" -o "$stem.pack" --vocab golden/vocab/bpe_simple_vocab_16e6.txt.gz > "$stem.convert.log" 2>&1; then
    echo "$(basename "$stem"): convert FAILED: $(tail -1 "$stem.convert.log")"; continue
  fi
  if ! .build/debug/lseg-run exec "$stem.pack" "${inputs[@]}" --output-dir "$stem.out" > "$stem.run.log" 2>&1; then
    echo "$(basename "$stem"): run FAILED: $(tail -1 "$stem.run.log")"; continue
  fi
  $PY -c "
import sys, numpy as np
a, e = np.load('$stem.out/logits.npy'), np.load('${stem}_ref.npy')
err, ref = float(np.abs(a - e).max()), float(np.abs(e).max())
agree = float((a[0].argmax(0) == e[0].argmax(0)).mean())
print('$(basename "$stem"): max abs error %.3g, max |ref| %.3g, relative %.2g, mask %.4f' % (err, ref, err / ref, agree))
"
done
