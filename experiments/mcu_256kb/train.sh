#!/usr/bin/env bash
# One microcontroller-sized student, end to end, with its logs where experiments/mcu_256kb/summarize.py reads them:
# fit-stream on the given MPNet transfer sets -> int8 flatbuffer -> test accuracy in TFLM (and LiteRT).
#
#   bash experiments/mcu_256kb/train.sh CONFIG_NAME SEED TAG SHARDS_DIR [SHARDS_DIR ...]
#   e.g. bash experiments/mcu_256kb/train.sh attn_e24h32a16_v7000 0 f2f4f4 aug/mpnet-shards-f2 aug/mpnet-shards-f4s1 aug/mpnet-shards-f4s2
#
# CONFIG_NAME is experiments/mcu_256kb/configs/CONFIG_NAME.json; the run is runs-mcu/table-CONFIG_NAME-TAG-stream-sSEED
# (gitignored) and its logs experiments/mcu_256kb/logs/mcu/{tuned,convert,evaltflite}-table-CONFIG_NAME-TAG-stream-sSEED*.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 4 ] || { echo "usage: $0 CONFIG_NAME SEED TAG SHARDS_DIR [SHARDS_DIR ...]" >&2; exit 2; }
config=$1 seed=$2 tag=$3; shift 3
source experiments/stream_run.sh
name="table-${config#attn_}-$tag-stream-s$seed"
stream_run tuned "$name" runs-mcu/$name experiments/mcu_256kb/logs/mcu "experiments/mcu_256kb/configs/$config.json" "$seed" "$@"
