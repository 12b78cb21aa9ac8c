#!/usr/bin/env python3
"""What the firmware tests' TFLM libraries cost to build from nothing (a cold CI cache) and to find
again (warm): every library tests/test_firmware_qemu.py and tests/test_firmware_boards.py link,
i.e. the op sets of the three int8 students (taken from committed models of the same
architecture) for every emulated board's CPU, with each kernel set, plus the host (x86-64)
reference builds. Prints one JSON line per library and a total with the compilers' CPU time.

    TFDISTIL_CACHE=$(mktemp -d) .venv/bin/python experiments/firmware/firmware_library_cost.py   # cold
    .venv/bin/python experiments/firmware/firmware_library_cost.py                               # warm (your cache)
"""
import json
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

MODELS = {"cnn": "results/models/cnn-distill/cnn_int8_L64.tflite",
          "bilstm": "results/models/bilstm-distill/bilstm_int8_L64.tflite",
          "bilstm_attn": "results/models/bilstm_attn-distill/bilstm_attn_int8_L64.tflite"}


def main():
    from tfdistil.edge.convert.export import op_list
    from tfdistil.edge.mcu.boards import BOARDS
    from tfdistil.edge.mcu.build import HOST, HOST_TOOLS, cache_dir, find_tools, tflm_library, tflm_source_dir
    import shutil
    tools, src = find_tools(), tflm_source_dir()
    host_tools = {k: shutil.which(v) for k, v in HOST_TOOLS.items()}
    ops = {s: op_list(open(os.path.join(ROOT, p), "rb").read()) for s, p in MODELS.items()}
    jobs = []  # (student, board, kernels): the boards test runs bilstm_attn everywhere; the others run on the M4
    for board in BOARDS:
        for kernels in ("cmsis-nn", "reference"):
            jobs += [(s, board, kernels) for s in (ops if board == "mps2-an386" else ["bilstm_attn"])]
    jobs += [(s, HOST, "reference") for s in ops]
    print(f"# cache: {cache_dir()}; {len(jobs)} libraries; TFDISTIL_JOBS={os.environ.get('TFDISTIL_JOBS', '2')}",
          flush=True)
    start, seen = time.time(), set()
    for student, board, kernels in jobs:
        t = time.time()
        lib, info = tflm_library(ops[student], board, host_tools if board == HOST else tools, src, kernels=kernels)
        print(json.dumps({"student": student, "board": board, "kernels": kernels, "cached": info["cached"],
                          "compiled": info.get("compiled", 0), "seconds": round(time.time() - t, 1),
                          "new_library": lib not in seen}), flush=True)
        seen.add(lib)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"total_wall_seconds": round(time.time() - start, 1), "libraries": len(seen),
                      "compiler_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
