#!/usr/bin/env bash
# A character language model on tinyshakespeare (1.1 MB): one-hot inputs -> 2-layer LSTM (hidden 256) ->
# softmax, truncated BPTT over 32 parallel streams in chunks of 64 characters, Adam lr 2e-3, gradient norm
# clipped to 5, the last 5% of the text held out (these are `bptt train`'s defaults, spelled out).
# Validation every 200 steps, a sample every 500. One pass over the training text is 517 steps, so 3000
# steps is about 5.8 passes.
#
# Run from anywhere (paths are relative to the repository root):
#     bash examples/tinyshakespeare.sh                          # 3000 steps
#     STEPS=5000 OUT=runs/shakespeare-5k bash examples/tinyshakespeare.sh
#     nohup bash examples/tinyshakespeare.sh > shakespeare.log 2>&1 &     # in the background
# Environment: DATA (default ../shared/data/tinyshakespeare.txt), STEPS (3000), OUT (runs/shakespeare),
# BPTT (the command, default `bptt`, else `python -m bptt`). An existing checkpoint in OUT is not
# overwritten: delete OUT, choose another OUT, or continue it with `bptt train --resume --out OUT --steps N`.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data/tinyshakespeare.txt}
STEPS=${STEPS:-3000}
OUT=${OUT:-runs/shakespeare}
if [ -n "${BPTT:-}" ]; then read -r -a bptt <<<"$BPTT"
elif command -v bptt >/dev/null 2>&1; then bptt=(bptt)
else bptt=(python -m bptt)
fi
if [ ! -f "$DATA" ]; then
    echo "tinyshakespeare.sh: corpus not found: $DATA (set DATA=path/to/tinyshakespeare.txt)" >&2
    exit 2
fi

"${bptt[@]}" train "$DATA" --hidden-size 256 --num-layers 2 --seq-length 64 --batch-size 32 \
    --optimizer adam --lr 2e-3 --clip-norm 5 --val-fraction 0.05 --steps "$STEPS" \
    --eval-every 200 --sample-every 500 --out "$OUT"
"${bptt[@]}" plot "$OUT"
"${bptt[@]}" sample "$OUT" --length 500 --seed 0
