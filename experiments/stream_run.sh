# Sourced by experiments/mcu_256kb/train.sh and experiments/paper_attn_mpnet/train.sh: one distilled BiLSTM-Attn, end to end,
# with its logs: fit-stream on the given transfer sets -> int8 flatbuffer -> test accuracy in TFLM and LiteRT.
#
#   stream_run FIT_LOG_PREFIX NAME RUN_DIR LOG_DIR CONFIG_JSON SEED SHARDS_DIR [SHARDS_DIR ...]
#
# Logs: LOG_DIR/{FIT_LOG_PREFIX,convert,evaltflite}-NAME*.log; the TFLM line is printed at the end.
stream_run() {
  local prefix=$1 name=$2 run=$3 logs=$4 config=$5 seed=$6
  shift 6
  local tfdistil=${TFDISTIL:-.venv/bin/tfdistil} data=${DATA:-../shared/data/sst2} shard_flags=() s rt
  mkdir -p "$logs"
  for s in "$@"; do shard_flags+=(--shards "$s"); done
  $tfdistil fit-stream --config "$config" "${shard_flags[@]}" --seed "$seed" \
    --data "$data" --out "$run" --json > "$logs/$prefix-$name.log" 2>&1
  $tfdistil convert "$run" --tflite --quantize int8 --data "$data" > "$logs/convert-$name-int8.log" 2>&1
  for rt in tflm litert; do
    $tfdistil evaluate-tflite "$run/tflite/bilstm_attn_int8_L64.tflite" --data "$data" --split test \
      --runtime $rt --json > "$logs/evaltflite-$name-$rt.log" 2>&1
  done
  tail -n 1 "$logs/evaltflite-$name-tflm.log"
}
