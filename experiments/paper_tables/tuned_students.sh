#!/usr/bin/env bash
# Retrain a tuner's winner (best.json) for the record: on SST-2 train with teacher logits
# ("fit", what the search itself used), or on the augmented transfer set ("stream", the shards
# of `tfdistil teacher shards`), per seed; then int8 conversion and LiteRT + TFLM test accuracy.
# Resumable: a finished step is skipped. Needs the outputs of experiments/paper_tables/reproduce.sh (teacher
# logits; for stream also MODES=augment's shards).
#
#   BEST=tune/attn-256kb/best.json MODE=stream SEEDS="0 1 2" bash experiments/paper_tables/tuned_students.sh
#   tfdistil report runs --out results --tuned runs-tuned/<name>-s0 ...
set -euo pipefail
cd "$(dirname "$0")/../.."
TFDISTIL=${TFDISTIL:-.venv/bin/tfdistil}
DATA=${DATA:-../shared/data/sst2}
BEST=${BEST:-tune/attn-256kb/best.json}
MODE=${MODE:-stream}                    # fit | stream
SEEDS=${SEEDS:-"0 1 2"}
SHARDS=${SHARDS:-aug/shards-f5}
EPOCHS=${EPOCHS:-}                      # default: the epochs in best.json
NAME=${NAME:-$(basename "$(dirname "$BEST")")}
RUNS=${RUNS:-runs-tuned}
LOGS=${LOGS:-logs}
[ -f "$BEST" ] || { echo "error: $BEST not found (run tfdistil tune first)" >&2; exit 2; }
[ "$MODE" = fit ] || [ "$MODE" = stream ] || { echo "error: MODE must be fit or stream, not $MODE" >&2; exit 2; }
mkdir -p "$LOGS" "$RUNS"
fail() { echo "error: $1 failed: $(tail -n 1 "$2") (log: $2)" >&2; exit 1; }

for seed in $SEEDS; do
  run="$NAME-$MODE-s$seed"; out="$RUNS/$run"
  epochs_flag=""; [ -n "$EPOCHS" ] && epochs_flag="--epochs $EPOCHS"
  if [ ! -f "$out/metrics.json" ]; then
    echo "[$MODE] $run"
    if [ "$MODE" = stream ]; then
      $TFDISTIL fit-stream --config "$BEST" --shards "$SHARDS" --seed "$seed" $epochs_flag \
        --data "$DATA" --out "$out" --json > "$LOGS/tuned-$run.log" 2>&1 || fail "fit-stream $run" "$LOGS/tuned-$run.log"
    else
      $TFDISTIL fit --config "$BEST" --seed "$seed" $epochs_flag \
        --data "$DATA" --out "$out" --json > "$LOGS/tuned-$run.log" 2>&1 || fail "fit $run" "$LOGS/tuned-$run.log"
    fi
  fi
  student=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['student'])" "$out/config.json")
  tfl=$(ls "$out"/tflite/"${student}"_int8_L*.tflite 2>/dev/null | head -n 1 || true)
  if [ -z "$tfl" ]; then
    $TFDISTIL convert "$out" --tflite --quantize int8 --data "$DATA" --json > "$LOGS/convert-$run-int8.log" 2>&1 \
      || fail "convert $run" "$LOGS/convert-$run-int8.log"
    tfl=$(ls "$out"/tflite/"${student}"_int8_L*.tflite | head -n 1)
  fi
  for rt in litert tflm; do
    res="$out/tflite/eval_int8_${rt}_test.json"
    if [ ! -f "$res" ]; then
      $TFDISTIL evaluate-tflite "$tfl" --data "$DATA" --split test --runtime "$rt" --json \
        > "$LOGS/evaltflite-$run-$rt.log" 2>&1 || fail "evaluate-tflite $run $rt" "$LOGS/evaltflite-$run-$rt.log"
      tail -n 1 "$LOGS/evaltflite-$run-$rt.log" > "$res.tmp" && mv "$res.tmp" "$res"
    fi
  done
  echo "[done] $run: $(python3 -c "import json,sys; print('test', json.load(open(sys.argv[1]))['test_accuracy'])" "$out/metrics.json") tflm $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['accuracy'])" "$out/tflite/eval_int8_tflm_test.json")"
done
