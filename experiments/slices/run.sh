#!/usr/bin/env bash
# Accuracy by slice of every committed model and both shipped teachers. From the repository root:
#   bash experiments/slices/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
${PY:-.venv/bin/python} experiments/slices/slice_table.py > experiments/slices/logs/slice_table.log 2>&1   # -> slices.md, slices.json
