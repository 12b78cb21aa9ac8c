#!/usr/bin/env bash
# Everything behind the paper's Tables 2 and 3, resumable: a finished step is skipped.
#
#   SEEDS="0 1 2" JOBS=2 bash experiments/paper_tables/reproduce.sh
#   MODES=augment STUDENTS=bilstm_attn SEEDS="0 1 2" JOBS=1 bash experiments/paper_tables/reproduce.sh   # Table 2's 3rd column
#   MODES=augment STUDENTS=bilstm_attn RUNS=runs-recipe LOGS=logs/recipe TAG=tunedrecipe \
#     AUG_CONFIG=experiments/paper_attn_mpnet/configs/bilstm_attn_augment_tuned_recipe.json bash experiments/paper_tables/reproduce.sh  # another recipe
#   TAG=mpnetf2 AUG_FACTOR=2 TEACHER_DIR=teachers/mpnet-sst2 LOGITS=cache/sst2_mpnet_logits.npz \
#     TRAIN_LOGITS=cache/sst2_mpnet_logits.npz SHARDS=aug/mpnet-shards-f2 SHARD_SIZE=20000 MODES=augment \
#     STUDENTS=bilstm_attn AUG_CONFIG=experiments/paper_attn_mpnet/configs/bilstm_attn_augment_tuned_recipe.json \
#     RUNS=runs-mpnet LOGS=experiments/paper_attn_mpnet/logs/mpnet-f2 JOBS=1 bash experiments/paper_tables/reproduce.sh   # MPNet-labelled transfer set
#   TAG=paperexact FIT_FLAGS=--paper-exact LOGITS=tfdistil/assets/sst2_minilm_logits.npz SEEDS=0 \
#     RUNS=runs-paperexact LOGS=logs/paperexact bash experiments/paper_tables/reproduce.sh   # the paper's sizes (1 CNN filter, 9,825 words)
#
# Modes: baseline (labels only), distill (labels + teacher logits), augment (distilled on the
# train rows plus an augmented transfer set labelled by the teacher, streamed from shards).
# Steps: teacher fine-tune (offline MiniLM-L6 here; TEACHER_MODEL=bert-base-uncased
# where the hub is reachable) -> teacher logits -> each student baseline and distilled
# per seed -> int8 + float32 conversion -> LiteRT/TFLM evaluation on test.
# Outputs: teachers/, cache/, $RUNS (default runs/; gitignored), logs/ per step.
set -euo pipefail
cd "$(dirname "$0")/../.."
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
DATA=${DATA:-../shared/data/sst2}
SEEDS=${SEEDS:-"0 1 2"}
STUDENTS=${STUDENTS:-"cnn bilstm bilstm_attn"}
MODES=${MODES:-"baseline distill"}
JOBS=${JOBS:-2}
TEACHER_MODEL=${TEACHER_MODEL:-minilm}
TEACHER_DIR=${TEACHER_DIR:-teachers/minilm-sst2}
LOGITS=${LOGITS:-cache/sst2_minilm_logits.npz}
AUG_FACTOR=${AUG_FACTOR:-5}            # augmented sentences attempted per train row (Tang et al.: 20)
AUG_EPOCHS=${AUG_EPOCHS:-4}            # an epoch over the transfer set is ~4x an SST-2 train epoch
SHARDS=${SHARDS:-aug/shards-f$AUG_FACTOR}
AUG_CONFIG=${AUG_CONFIG:-}             # optional JSON config for augment runs (settings other than the paper's)
SHARD_SIZE=${SHARD_SIZE:-50000}        # rows per shard (the unit of resumption)
TRAIN_LOGITS=${TRAIN_LOGITS:-}         # this teacher's `teacher logits` cache: train rows are not re-labelled
RUNS=${RUNS:-runs}
FIT_FLAGS=${FIT_FLAGS:-}                # extra `tfdistil fit` flags, e.g. --paper-exact (use with TAG)
TAG=${TAG:-}                            # run names STUDENT-MODE[-TAG]-sSEED: keeps another recipe's runs apart
LOGS=${LOGS:-logs}                      # per-run logs (a separate folder per RUNS keeps them apart)
mkdir -p logs cache "$RUNS" "$LOGS"

if [ ! -f "$LOGITS" ] && [ ! -f "$TEACHER_DIR/teacher_meta.json" ]; then
  echo "[teacher fit] $TEACHER_DIR"
  $TFDISTIL teacher fit --model "$TEACHER_MODEL" --data "$DATA" --out "$TEACHER_DIR" --epochs 1 --json \
    > logs/teacher_fit.log 2>&1
fi
if [ ! -f "$LOGITS" ]; then
  echo "[teacher logits] $LOGITS"
  $TFDISTIL teacher logits --teacher "$TEACHER_DIR" --data "$DATA" --out "$LOGITS" --json > logs/teacher_logits.log 2>&1
fi

if [[ " $MODES " == *" augment "* ]]; then
  mkdir -p aug
  if [ ! -f "aug/sst2_aug_f$AUG_FACTOR.tsv" ]; then
    echo "[augment] aug/sst2_aug_f$AUG_FACTOR.tsv"
    $TFDISTIL augment --data "$DATA" --factor "$AUG_FACTOR" --seed 0 --out "aug/sst2_aug_f$AUG_FACTOR.tsv" --json \
      > "logs/augment-f$AUG_FACTOR.log" 2>&1
  fi
  # Resumable by itself: finished shards are skipped, so rerunning after a kill only does the rest.
  echo "[teacher shards] $SHARDS"
  $TFDISTIL teacher shards --teacher "$TEACHER_DIR" --data "$DATA" --augmented "aug/sst2_aug_f$AUG_FACTOR.tsv" \
    ${TRAIN_LOGITS:+--train-logits "$TRAIN_LOGITS"} --out "$SHARDS" --shard-size "$SHARD_SIZE" --batch-size 128 \
    --json >> "logs/teacher-shards-f$AUG_FACTOR.log" 2>&1
fi

run_one() {  # student mode seed
  local student=$1 mode=$2 seed=$3 name out flags=""
  name="$student-$mode${TAG:+-$TAG}-s$seed"; out="$RUNS/$name"
  [ "$mode" = distill ] && flags="--distill --teacher-logits $LOGITS"
  if [ ! -f "$out/metrics.json" ]; then
    echo "[fit] $name"
    if [ "$mode" = augment ]; then
      $TFDISTIL fit-stream --shards "$SHARDS" ${AUG_CONFIG:+--config "$AUG_CONFIG"} --student "$student" \
        --epochs "$AUG_EPOCHS" --seed "$seed" \
        --data "$DATA" --out "$out" --json > "$LOGS/fit-$name.log" 2>&1 \
        || { echo "[failed] $name: see $LOGS/fit-$name.log"; return 1; }
    else
      $TFDISTIL fit --student "$student" $flags $FIT_FLAGS --seed "$seed" --data "$DATA" --out "$out" --json \
        > "$LOGS/fit-$name.log" 2>&1 || { echo "[failed] $name: see $LOGS/fit-$name.log"; return 1; }
    fi
  fi
  for q in int8 float32; do
    if [ ! -f "$out/tflite/${student}_${q}_L64.json" ]; then
      $TFDISTIL convert "$out" --tflite --quantize "$q" --data "$DATA" --json > "$LOGS/convert-$name-$q.log" 2>&1 \
        || { echo "[failed] convert $name $q: see $LOGS/convert-$name-$q.log"; return 1; }
    fi
  done
  for rt in litert tflm; do
    local res="$out/tflite/eval_int8_${rt}_test.json"
    if [ ! -f "$res" ]; then
      $TFDISTIL evaluate-tflite "$out/tflite/${student}_int8_L64.tflite" --data "$DATA" --split test \
        --runtime "$rt" --json > "$LOGS/evaltflite-$name-$rt.log" 2>&1 \
        || { echo "[failed] evaluate-tflite $name $rt: see $LOGS/evaltflite-$name-$rt.log"; return 1; }
      tail -n 1 "$LOGS/evaltflite-$name-$rt.log" > "$res.tmp" && mv "$res.tmp" "$res"
    fi
  done
  echo "[done] $name"
}
export -f run_one
export TFDISTIL DATA LOGITS SHARDS AUG_EPOCHS AUG_CONFIG RUNS LOGS TAG FIT_FLAGS

for seed in $SEEDS; do for student in $STUDENTS; do for mode in $MODES; do
  echo "$student $mode $seed"
done; done; done | xargs -P "$JOBS" -L 1 bash -c 'run_one $0 $1 $2' || {
  # xargs runs every job and exits 123 if any failed: the others finished, this run did not
  echo "some runs failed (the [failed] lines above name their logs); rerun to resume them" >&2
  exit 1
}
echo "all runs finished; render the report with: $TFDISTIL report $RUNS --out results"
