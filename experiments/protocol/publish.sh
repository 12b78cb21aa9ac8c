#!/usr/bin/env bash
# Copy a finished (or half-finished) distil run's small, readable outputs into results/:
#   bash experiments/protocol/publish.sh RUN_DIR RUN_LOG DEST
# e.g. bash experiments/protocol/publish.sh runs/sst2-distil-m4-sentences runs/sst2-distil-m4-sentences.log \
#          results/distil/sst2-cortex-m4-sentences
# Writes DEST/{report.md,report.json,candidates.png,levers.png,test_read.json} when the run has them, DEST/stages.json
# (every stage record so far: its result and seconds) and DEST/run.log (the log without progress bars, home
# and machine paths shortened). DEST is made if missing; nothing else is touched.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 RUN_DIR RUN_LOG DEST" >&2; exit 2; }
run=$1 log=$2 dest=$3
[ -d "$run/stages" ] || { echo "error: $run is not a distil run (no stages/)" >&2; exit 2; }
[ -f "$log" ] || { echo "error: $log: file not found" >&2; exit 2; }
mkdir -p "$dest"
for f in report.md report.json candidates.png levers.png test_read.json; do
  [ -f "$run/$f" ] && cp "$run/$f" "$dest/$f"
done
python3 - "$run" "$dest/stages.json" <<'PY'
import json, os, sys
run, out = sys.argv[1:]
d = os.path.join(run, "stages")
stages = {n[:-5]: json.load(open(os.path.join(d, n), encoding="utf-8")) for n in sorted(os.listdir(d)) if n.endswith(".json")}
with open(out, "w", encoding="utf-8") as f:
    json.dump(stages, f, indent=1, sort_keys=True)
PY
grep -av 'batch \[\|it/s\]\|s/it\]\|[0-9]%|' "$log" | sed -e "s#$HOME/#~/#g; s#$(pwd)/##g" > "$dest/run.log"
sed -i -e "s#$HOME/#~/#g; s#$(pwd)/##g" "$dest/stages.json"
ls -la "$dest"
