#!/usr/bin/env bash
# How much of the selection split has train already shown? (No training; seconds.)
set -euo pipefail
PY=${PY:-.venv/bin/python}
$PY experiments/protocol/seen_in_train.py --data ../shared/data/sst2 --run runs/sst2-distil-m4 \
    --json experiments/protocol/seen_in_train.json
$PY experiments/protocol/seen_in_train.py --data ../shared/data/sst2 --selection-fraction 0.2 \
    --json experiments/protocol/seen_in_train_0.2.json
