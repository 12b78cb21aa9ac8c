#!/usr/bin/env bash
# The paper's exact sizes (`fit --paper-exact`), seed 0, then the summary. From the repository root:
#   bash experiments/paper_exact/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=paperexact FIT_FLAGS=--paper-exact LOGITS=tfdistil/assets/sst2_minilm_logits.npz SEEDS=0 JOBS=1 \
  RUNS=runs-paperexact LOGS=experiments/paper_exact/logs/paperexact bash experiments/paper_tables/reproduce.sh
${PY:-.venv/bin/python} experiments/paper_exact/summarize.py   # -> paper_exact.{json,md}, section in results/REPORT.md
