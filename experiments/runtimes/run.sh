#!/usr/bin/env bash
# Every committed int8 model in LiteRT with the builtin kernels and with XNNPACK. From the repository root:
#   bash experiments/runtimes/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
${PY:-.venv/bin/python} experiments/runtimes/record_int8_kernels.py > experiments/runtimes/logs/record_int8_kernels.log 2>&1
# The Raspberry Pi runtime (tflite-runtime 2.14 in its own venv), another study's scripts:
#   python experiments/pi/check_tflite_runtime.py; python experiments/pi/check_pi_runner.py; python experiments/pi/check_pi_aarch64.py
