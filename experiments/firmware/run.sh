#!/usr/bin/env bash
# The firmware measurements of experiments/firmware/README.md, in order. From the repository root:
#   bash experiments/firmware/run.sh
# Hours on 2 cores (whole SST-2 test split on emulated boards); each step can be run alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
bash experiments/firmware/firmware_runs.sh
bash experiments/firmware/firmware_boards.sh
bash experiments/firmware/firmware_perf_runs.sh
$PY experiments/mcu_speed/table.py > results/firmware/perf/table.md  # one script writes this table (issue 30 rows too)
$PY experiments/firmware/firmware_budget.py
$PY experiments/firmware/firmware_attention_padding.py results/models/*attn*/*.tflite \
  --out results/firmware/attention-padding/test.md
if [ -f /usr/share/dict/american-english ]; then
  $PY experiments/firmware/fingerprint_check.py results/models/*/vocab.json --words /usr/share/dict/american-english \
    > results/firmware/fingerprint-false-hits-wamerican.log
fi
$PY experiments/firmware/instruction_model.py > results/logs/instruction_model.log
