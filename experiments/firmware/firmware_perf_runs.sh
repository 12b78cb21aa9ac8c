#!/bin/sh
# The committed 256 KB student per token on the emulated M4 and M55 with the CMSIS-NN kernel set
# (CMSIS-NN + tfdistil's exact fast paths: tfdistil/edge/mcu/src/fast_ops.cc, tfdistil/edge/mcu/src/tfdistil_lstm_step_s8.c),
# the whole SST-2 test split. JSON in results/firmware/perf/, logs in results/logs/firmware-perf/.
set -e
cd "$(dirname "$0")/../.."
M=results/models/mcu-attn-e20h32a16-v8800-sw/bilstm_attn_int8_L64.tflite
for board in mps2-an386 mps3-an547; do
  .venv/bin/tfdistil firmware $M --board $board --kernels cmsis-nn --data ../shared/data/sst2 --split test \
    --per-token 16,32,64 --c-vocab fingerprint-ranks --out results/firmware/perf \
    > results/logs/firmware-perf/$board-cmsis-nn-test.log 2>&1
done
# where the instructions go, per op type, with both kernel sets (first 200 test sentences)
.venv/bin/python experiments/firmware/firmware_op_profile.py $M --per-token 16,32,64 --c-vocab fingerprint-ranks --limit 200 \
  --out results/firmware/perf/op-profile-mcu-attn-e20h32a16-v8800-sw.md > results/logs/firmware-perf/op-profile.log 2>&1
