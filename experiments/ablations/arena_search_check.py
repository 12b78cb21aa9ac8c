"""The forked TFLM arena search against one process per probe, on committed int8 models.

`smallest_arena` (tfdistil/edge/host/evaluate.py) now bisects in one probe process that forks a
child per try. This runs the old way beside it (a fresh `python -m tfdistil.edge.host.tflm_probe`
per size, the same bisection) and prints both answers and both times per model.

    python experiments/ablations/arena_search_check.py [N_MODELS] > experiments/ablations/arena_search_check.log
"""
import glob
import sys
import time


def main(n):
    import tflite_micro
    from ai_edge_litert.interpreter import Interpreter

    from tfdistil.edge.host.evaluate import smallest_arena, tflm_arena_used
    from tfdistil.edge.host.runtimes import feed_probe, run_tflm_probe
    print("model\tbytes_used\tforked_search\tone_process_a_probe\tforked_s\tone_process_s")
    for path in sorted(glob.glob("results/models/*/*_int8_L64.tflite"))[:n]:
        names = [d["name"] for d in Interpreter(model_path=path).get_input_details()]
        with open(path, "rb") as f:
            it = tflite_micro.runtime.Interpreter.from_bytes(f.read(), arena_size=4 * 1024 * 1024)
        feed_probe(it, names)
        it.invoke()
        used, _ = tflm_arena_used(it)
        t0 = time.time()
        forked = smallest_arena(path, names, used)
        t_forked = time.time() - t0
        t0 = time.time()
        step = 64
        lo, hi = max(step, int(used * 0.8)), int(used * 1.5) + 4096
        while hi - lo > step:
            mid = (lo + hi) // 2
            if run_tflm_probe(path, mid, names).returncode == 0:
                hi = mid
            else:
                lo = mid
        print(f"{path}\t{used}\t{forked}\t{hi}\t{t_forked:.2f}\t{time.time() - t0:.2f}", flush=True)
        assert forked == hi, (path, forked, hi)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
