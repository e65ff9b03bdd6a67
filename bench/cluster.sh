#!/usr/bin/env bash
# The cost of the cluster machinery, measured on one machine with bin/troupe bench serve (streaming,
# fixed-length generations), in one run:
#   local   one node serving its own replica                                  (THREADS engine threads)
#   remote  a gateway-only node in front of one worker: every request remote  (the worker: THREADS threads)
#   cluster NODES nodes, one replica each, the load through node 1's gateway  (THREADS/NODES threads each,
#           rounded up: the same total engine threads as local when they divide)
# Needs PostgreSQL on 127.0.0.1:5432 (the cluster's journal; a throw-away database is created and dropped).
# Usage: bench/cluster.sh [MODEL_FILE] [THREADS] [CONCURRENCY] [MAX_TOKENS] [NODES]
# Env: SETUPS (default "local remote cluster"): which setups to run; NODE_ENV: extra VAR=value settings for
# every node (e.g. NODE_ENV="TROUPE_CLUSTER_TRANSPORT=tcp" to compare Artery's transports).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="${1:-$ROOT/../shared/models/random15M-q8_0.gguf}"
THREADS="${2:-2}"
CONC="${3:-1,8}"
MAXTOK="${4:-64}"
NODES="${5:-3}"
cd "$ROOT"
[ -f cluster-node/target/troupe-cluster-node.jar ] || mvn -q -DskipTests package
name=$(basename "$MODEL" .gguf)
db="troupe_bench_$$"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db"
work=$(mktemp -d)
pids=()
cleanup() {
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

# node NAME HTTP_PORT CLUSTER_PORT THREADS [extra serve flags...]
node() {
  local n=$1 http=$2 cport=$3 threads=$4
  shift 4
  env ${NODE_ENV:-} TROUPE_LOG_LEVEL=WARN TROUPE_JOURNAL=postgres TROUPE_JOURNAL_URL="jdbc:postgresql://127.0.0.1:5432/$db" \
    bin/troupe serve --model "$MODEL" --port "$http" --cluster-port "$cport" --threads "$threads" --data-dir "$work/$n" "$@" \
    2>"$work/$n.log" &
  pids+=($!)
}
ready() {
  for i in $(seq 1 240); do curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "node on $1 not ready" >&2; exit 1
}
stop_all() {
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
  psql -h 127.0.0.1 -U postgres -d "$db" -qc "TRUNCATE event_journal, snapshot, event_tag" 2>/dev/null || true
}
# load SETUP URL_PORT: the bench's JSON lines, each tagged with the setup
load() {
  bin/troupe bench serve --url "http://127.0.0.1:$2" --model "$name" --concurrency "$CONC" --max-tokens "$MAXTOK" 2>/dev/null \
    | sed "s/^{/{\"setup\":\"$1\",/"
}
scale() {
  curl -sf -H "Authorization: Bearer bench" -d "{\"version\":\"v1\",\"replicas\":$2}" \
    "http://127.0.0.1:$1/admin/models/$name/deployments" >/dev/null
}
export TROUPE_ADMIN_TOKEN=bench

SETUPS="${SETUPS:-local remote cluster}"
if [[ " $SETUPS " == *" local "* ]]; then
  node local 18180 25620 "$THREADS"
  ready 18180
  load local 18180
  stop_all
fi

if [[ " $SETUPS " == *" remote "* ]]; then
  node worker 18181 25621 "$THREADS"
  ready 18181
  node gateway 18182 25622 1 --seed 127.0.0.1:25621 --roles gateway
  ready 18182
  load remote 18182
  stop_all
fi

[[ " $SETUPS " == *" cluster "* ]] || exit 0
each=$(( (THREADS + NODES - 1) / NODES ))
node c1 18191 25631 "$each"
ready 18191
for i in $(seq 2 "$NODES"); do node "c$i" $((18190 + i)) $((25630 + i)) "$each" --seed 127.0.0.1:25631; done
for i in $(seq 2 "$NODES"); do ready $((18190 + i)); done
scale 18191 "$NODES"
sleep 5
load "cluster-$NODES" 18191
