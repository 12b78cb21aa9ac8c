#!/usr/bin/env bash
# Everything behind the paper's Tables 2 and 3, resumable: a finished step is skipped.
#
#   SEEDS="0 1 2" JOBS=2 bash scripts/reproduce.sh
#
# Steps: teacher fine-tune (offline MiniLM-L6 here; TEACHER_MODEL=bert-base-uncased
# where the hub is reachable) -> teacher logits -> each student baseline and distilled
# per seed -> int8 + float32 conversion -> LiteRT/TFLM evaluation on test.
# Outputs: teachers/, cache/, runs/ (gitignored), logs/ per step.
set -euo pipefail
cd "$(dirname "$0")/.."
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
DATA=${DATA:-../shared/data/sst2}
SEEDS=${SEEDS:-"0 1 2"}
STUDENTS=${STUDENTS:-"cnn bilstm bilstm_attn"}
MODES=${MODES:-"baseline distill"}
JOBS=${JOBS:-2}
TEACHER_MODEL=${TEACHER_MODEL:-minilm}
TEACHER_DIR=${TEACHER_DIR:-teachers/minilm-sst2}
LOGITS=${LOGITS:-cache/sst2_minilm_logits.npz}
mkdir -p logs cache runs

if [ ! -f "$TEACHER_DIR/teacher_meta.json" ]; then
  echo "[teacher fit] $TEACHER_DIR"
  $TFDISTIL teacher fit --model "$TEACHER_MODEL" --data "$DATA" --out "$TEACHER_DIR" --epochs 1 --json \
    > logs/teacher_fit.log 2>&1
fi
if [ ! -f "$LOGITS" ]; then
  echo "[teacher logits] $LOGITS"
  $TFDISTIL teacher logits --teacher "$TEACHER_DIR" --data "$DATA" --out "$LOGITS" --json > logs/teacher_logits.log 2>&1
fi

run_one() {  # student mode seed
  local student=$1 mode=$2 seed=$3 name out flags=""
  name="$student-$mode-s$seed"; out="runs/$name"
  [ "$mode" = distill ] && flags="--distill --teacher-logits $LOGITS"
  if [ ! -f "$out/metrics.json" ]; then
    echo "[fit] $name"
    $TFDISTIL fit --student "$student" $flags --seed "$seed" --data "$DATA" --out "$out" --json > "logs/fit-$name.log" 2>&1 \
      || { echo "[failed] $name: see logs/fit-$name.log"; return 0; }
  fi
  for q in int8 float32; do
    if [ ! -f "$out/tflite/${student}_${q}_L64.json" ]; then
      $TFDISTIL convert "$out" --tflite --quantize "$q" --data "$DATA" --json > "logs/convert-$name-$q.log" 2>&1 \
        || { echo "[failed] convert $name $q: see logs/convert-$name-$q.log"; return 0; }
    fi
  done
  for rt in litert tflm; do
    local res="$out/tflite/eval_int8_${rt}_test.json"
    if [ ! -f "$res" ]; then
      $TFDISTIL evaluate-tflite "$out/tflite/${student}_int8_L64.tflite" --data "$DATA" --split test \
        --runtime "$rt" --json > "logs/evaltflite-$name-$rt.log" 2>&1 \
        || { echo "[failed] evaluate-tflite $name $rt: see logs/evaltflite-$name-$rt.log"; return 0; }
      tail -n 1 "logs/evaltflite-$name-$rt.log" > "$res.tmp" && mv "$res.tmp" "$res"
    fi
  done
  echo "[done] $name"
}
export -f run_one
export TFDISTIL DATA LOGITS

for seed in $SEEDS; do for student in $STUDENTS; do for mode in $MODES; do
  echo "$student $mode $seed"
done; done; done | xargs -P "$JOBS" -L 1 bash -c 'run_one $0 $1 $2'
echo "all runs finished; render the report with: $TFDISTIL report runs --out results"
