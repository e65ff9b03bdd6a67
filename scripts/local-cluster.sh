#!/usr/bin/env bash
# Starts a cluster of N nodes (default 3) on this machine to try Troupe's cluster: node i serves HTTP on
# 8080+i and the cluster on UDP 25520+i; node 1 is every other node's seed; the journal is a PostgreSQL
# database on 127.0.0.1:5432 (created if missing). Ctrl-C (or SIGTERM) stops every node gracefully.
#   scripts/local-cluster.sh ../shared/models/stories260K-f32.gguf [N]
# Build first: mvn -q -DskipTests package
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="${1:?usage: scripts/local-cluster.sh MODEL.gguf [NODES]}"
NODES="${2:-3}"
DB="${TROUPE_LOCAL_DB:-troupe_local}"
DATA="${TROUPE_LOCAL_DATA:-$ROOT/data/local-cluster}"
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB"
fi
export TROUPE_JOURNAL=postgres TROUPE_JOURNAL_URL="jdbc:postgresql://127.0.0.1:5432/$DB"
export TROUPE_THREADS="${TROUPE_THREADS:-1}"
pids=()
stop() {
  echo "stopping ${#pids[@]} nodes" >&2
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM
mkdir -p "$DATA"
for i in $(seq 1 "$NODES"); do
  seed=()
  if [ "$i" -gt 1 ]; then seed=(--seed 127.0.0.1:25521); fi
  "$ROOT/bin/troupe" serve --model "$MODEL" --port $((8080 + i)) --cluster-port $((25520 + i)) "${seed[@]}" \
    --data-dir "$DATA/node$i" > "$DATA/node$i.log" 2>&1 &
  pids+=($!)
  if [ "$i" -eq 1 ]; then
    until curl -sf "http://127.0.0.1:8081/health/ready" > /dev/null; do
      kill -0 "${pids[0]}" 2>/dev/null || { echo "node 1 exited: $DATA/node1.log" >&2; exit 1; }
      sleep 0.5
    done
  fi
done
for i in $(seq 1 "$NODES"); do
  until curl -sf "http://127.0.0.1:$((8080 + i))/health/ready" > /dev/null; do
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { echo "node $i exited: $DATA/node$i.log" >&2; stop; exit 1; }
    sleep 0.5
  done
  echo "node $i: http://127.0.0.1:$((8080 + i))/v1 (log $DATA/node$i.log)"
done
echo "cluster of $NODES up; Ctrl-C stops it" >&2
wait "${pids[@]}"
