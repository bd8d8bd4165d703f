#!/usr/bin/env bash
# `make test` N times in a row beside a CPU hog on every core (stress-ng --cpu N, or Python busy loops
# where stress-ng is missing), one line per run: pass/fail, wall time, load average. Exits 1 if any
# run failed. Usage: tools/stress_test.sh [RUNS] (default 10); each run's output is in .warmline/stress/.
set -u
runs=${1:-10}
cores=$(nproc 2>/dev/null || echo 2)
out=.warmline/stress
mkdir -p "$out"

if command -v stress-ng >/dev/null; then
  hog="stress-ng --cpu $cores"
  stress-ng --cpu "$cores" --quiet >/dev/null 2>&1 &
else
  hog="$cores Python busy loops"
  python3 -c "
import multiprocessing
def spin():
    while True:
        pass
for _ in range($cores - 1):
    multiprocessing.Process(target=spin, daemon=True).start()
spin()" &
fi
hog_pid=$!
# The hog's own children first (the busy loops), while they are still its children; then the hog.
trap 'pkill -P "$hog_pid" 2>/dev/null; kill -- "$hog_pid" 2>/dev/null; wait "$hog_pid" 2>/dev/null' EXIT
echo "beside: $hog (pid $hog_pid); $runs run(s) of make test; logs in $out/"

failed=0
for run in $(seq 1 "$runs"); do
  started=$(date +%s)
  if make --no-print-directory test >"$out/run-$run.log" 2>&1; then verdict=pass; else verdict=FAIL; failed=$((failed + 1)); fi
  summary=$(grep -E "^=+ .*(passed|failed).* in " "$out/run-$run.log" | tail -n 1 | tr -d '=')
  echo "run $run: $verdict in $(( $(date +%s) - started )) s, load average $(cut -d' ' -f1-3 /proc/loadavg) -$summary"
done
echo "$((runs - failed)) of $runs run(s) passed beside $hog"
[ "$failed" -eq 0 ]
