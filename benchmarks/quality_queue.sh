#!/usr/bin/env bash
# Two workers run quality.py runs from a queue file, one thread each (runs compare at equal
# iterations, not timed; `quality.py speed` times them apart, on an idle CPU). Lines of the queue:
# "RECIPE SEED ITERATIONS [EXTRA ARGS]"; lines may be added or removed while it runs.
# Usage: bash benchmarks/quality_queue.sh QUEUE_FILE
cd "$(dirname "$0")/.."
queue=$(readlink -f "$1")
worker() {
    while true; do
        line=$(flock "$queue" sh -c 'head -n 1 "$0"; sed -i 1d "$0"' "$queue")
        [ -n "$line" ] || return 0
        set -- $line
        "${PYTHON:-python}" benchmarks/quality.py run "$1" --seed "$2" --iterations "$3" "${@:4}" \
            > "benchmarks/quality_runs/$(echo "$line" | tr " " "_").log" 2>&1
    done
}
for _ in $(seq "${QUEUE_WORKERS:-2}"); do worker & done
wait
