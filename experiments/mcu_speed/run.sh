#!/bin/sh
# Issue 30: the committed 256 KB student per token on the emulated M4 and M55 with the CMSIS-NN kernel set
# after this work's exact fast paths (tfdistil/edge/mcu/src/tfdistil_lstm_step_s8.c, tfdistil_lstm_step_mve.h,
# fast_ops.cc, the LSTM Eval patch in tfdistil/edge/mcu/cmsis.py), the whole SST-2 test split; then where the
# instructions go (CMSIS-NN build only, first 200 test sentences, profiled builds). JSON in
# results/firmware/perf/mcu-speed/, logs in results/logs/firmware-perf/mcu-speed/, table:
#   .venv/bin/python experiments/mcu_speed/table.py > results/firmware/perf/table.md
set -e
cd "$(dirname "$0")/../.."
M=results/models/mcu-attn-e20h32a16-v8800-sw/bilstm_attn_int8_L64.tflite
OUT=results/firmware/perf/mcu-speed
LOGS=results/logs/firmware-perf/mcu-speed
for board in mps2-an386 mps3-an547; do
  .venv/bin/tfdistil firmware $M --board $board --kernels cmsis-nn --data ../shared/data/sst2 --split test \
    --per-token 16,32,64 --c-vocab fingerprint-ranks --out $OUT > $LOGS/$board-cmsis-nn-test.log 2>&1
done
for board in mps2-an386 mps3-an547; do
  .venv/bin/python experiments/mcu_speed/profile.py --model $M --board $board --limit 200 \
    --json $OUT/op-profile-$board-200.json > $LOGS/op-profile-$board-200.log 2>&1
done
# logs keep no machine paths (tests/test_machine_paths.py): the temporary build folder and the cache
sed -i -e "s|${TMPDIR:-/tmp}/tfdistil-fw-[A-Za-z0-9_]*|<tmp>|g" -e "s|$HOME/|~/|g" $LOGS/*.log $OUT/*-test.json
.venv/bin/python experiments/mcu_speed/table.py > results/firmware/perf/table.md
.venv/bin/python experiments/mcu_speed/table.py --profile > $OUT/op-profile.md
