"""What each test file costs: sum the setup/call/teardown durations of a pytest log run with
`--durations=0` (`PYTEST_ADDOPTS=--durations=0 bash .ci/run > LOG`) per file, as a Markdown table.

    python tests/cost_table.py LOG > results/logs/test-costs.md

Worker seconds, not wall: two xdist workers run files side by side, so the wall time is about half the
total plus the imbalance of the last files. Durations under pytest's 0.005 s floor are not printed and not
counted."""
import collections
import re
import sys

LINE = re.compile(r"^\s*([0-9.]+)s (setup|call|teardown)\s+(tests/[^:]+\.py)::")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: cost_table.py PYTEST_LOG")
    per = collections.defaultdict(lambda: {"setup": 0.0, "call": 0.0, "teardown": 0.0, "tests": set()})
    summary = ""
    with open(argv[0], encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                seconds, phase, path = float(m.group(1)), m.group(2), m.group(3)
                per[path][phase] += seconds
                per[path]["tests"].add(line.split("::", 1)[1].strip())
            elif re.search(r"\d+ passed", line):
                summary = line.strip("= \n")
    if not per:
        sys.exit("error: no durations in the log (run pytest with --durations=0)")
    total = sum(v["setup"] + v["call"] + v["teardown"] for v in per.values())
    print(f"Per test file, worker seconds (setup = fixtures: tiny models, firmware libraries, Pi roots). "
          f"Total {total:,.0f} s; {summary}.\n")
    print("| file | tests | seconds | share | setup | call |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for path, v in sorted(per.items(), key=lambda kv: -(kv[1]["setup"] + kv[1]["call"] + kv[1]["teardown"])):
        s = v["setup"] + v["call"] + v["teardown"]
        print(f"| `{path}` | {len(v['tests'])} | {s:,.0f} | {100 * s / total:.1f} % | {v['setup']:,.0f} | {v['call']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
