#!/usr/bin/env bash
# The 256 KB students, as the committed ones were made (each results/models/mcu-*/source.json lists
# every command of its own). Needs the MPNet teacher and transfer sets of experiments/paper_attn_mpnet/run.sh.
# From the repository root: bash experiments/mcu_256kb/run.sh   (hours a seed on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${TFDISTIL:-.venv/bin/tfdistil}
PY=${PY:-.venv/bin/python}
M=experiments/mcu_256kb
DATA=${DATA:-../shared/data/sst2}
F2F4F4=(aug/mpnet-shards-f2 aug/mpnet-shards-f4s1 aug/mpnet-shards-f4s2)
F2F4F4F4=("${F2F4F4[@]}" aug/mpnet-shards-f4s3)

# The word-vocabulary student (8,800 words, lr halved each epoch; committed: mcu-attn-e20h32a16-v8800, seed 2).
for seed in 0 1 2; do bash $M/train.sh attn_e20h32a16_v8800_g05 $seed f2f4f4 "${F2F4F4[@]}"; done
# The wordpiece student (8,800 wordpieces; committed: mcu-attn-e20h32a16-v8800-sw, seed 0), five seeds.
for seed in 0 1 2 3 4; do bash $M/train.sh attn_e20h32a16_v8800_g05_sw $seed f2f4f4f4 "${F2F4F4F4[@]}"; done

# Which seed: agreement with the teacher on 40,000 sentences no run trained on.
$T augment --factor 2 --seed 4 --max-rows 40000 --exclude-from aug/sst2_aug_f2.tsv --exclude-from aug/sst2_aug_f4_s1.tsv \
  --exclude-from aug/sst2_aug_f4_s2.tsv --exclude-from aug/sst2_aug_f4_s3.tsv --out aug/sst2_aug_heldout_s4.tsv
$T teacher shards --teacher teachers/mpnet-sst2 --augmented aug/sst2_aug_heldout_s4.tsv --no-train --shard-size 20000 \
  --out aug/mpnet-shards-heldout-s4
$PY experiments/paper_attn_mpnet/teacher_agreement.py --choose $M/mcu_heldout_choice.md --tflm-logs $M/logs/mcu \
  runs-mcu/table-e20h32a16_v8800_g05_sw-f2f4f4f4-stream-s{0,1,2,3,4}

# The chosen model on the emulated Cortex-M4, token by token, with the 4-byte C word table.
$T firmware results/models/mcu-attn-e20h32a16-v8800-sw/bilstm_attn_int8_L64.tflite --data $DATA --split test \
  --per-token 16,32,64 --c-vocab fingerprint-ranks --out results/firmware
# The per-token pieces against the 64-step model in host TFLM.
$PY $M/check_per_token.py results/models/tuned-attn-256kb-stream results/models/mcu-attn-e24h24-v5000 --heads 16,32,64 \
  > $M/logs/check_per_token.log
# Every run on record -> results/mcu_256kb.md
$PY $M/summarize.py
