#!/usr/bin/env bash
# Seed 001's run: a one-layer character LSTM (hidden 128) on japan.txt (3.6 KB), one stream (batch 1) in
# chunks of 25 characters, Adam lr 1e-3, a sample and a validation loss every 100 iterations, the last 10% of
# the text held out. 3.6 KB is far too little text to learn English from: the model memorises the training
# part, so the training loss keeps falling while the validation loss bottoms out and then rises
# (see docs/language_models.md).
#
# Run from anywhere (paths are relative to the repository root):
#     bash examples/japan.sh                  # 10000 steps (about 77 passes over the text, ~1 minute)
#     STEPS=1000 OUT=runs/japan-short bash examples/japan.sh
# Environment: DATA (default ../shared/data/japan.txt), STEPS (10000), OUT (runs/japan),
# BPTT (the command, default `bptt`, else `python -m bptt`). An existing checkpoint in OUT is not
# overwritten: delete OUT, choose another OUT, or continue it with `bptt train --resume --out OUT --steps N`.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data/japan.txt}
STEPS=${STEPS:-10000}
OUT=${OUT:-runs/japan}
if [ -n "${BPTT:-}" ]; then read -r -a bptt <<<"$BPTT"
elif command -v bptt >/dev/null 2>&1; then bptt=(bptt)
else bptt=(python -m bptt)
fi
if [ ! -f "$DATA" ]; then
    echo "japan.sh: corpus not found: $DATA (set DATA=path/to/japan.txt)" >&2
    exit 2
fi

"${bptt[@]}" train "$DATA" --hidden-size 128 --num-layers 1 --seq-length 25 --batch-size 1 \
    --optimizer adam --lr 1e-3 --steps "$STEPS" --sample-every 100 --eval-every 100 --val-fraction 0.1 \
    --out "$OUT"
"${bptt[@]}" plot "$OUT"
"${bptt[@]}" sample "$OUT" --length 300 --seed 0
