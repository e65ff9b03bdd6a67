#!/usr/bin/env bash
# Starts a node on MODEL (default: the random 15M F32 model), loads it with bin/troupe bench serve
# (streaming, fixed-length generations), prints the JSON lines, stops the node.
# Usage: bench/serve.sh [MODEL_FILE] [THREADS] [CONCURRENCY] [MAX_TOKENS] [REQUESTS]
# Env: CLIENT=raw|jdk (the load generator's HTTP client, default raw); SERVER_ROOT=DIR runs the node from
# another built checkout (e.g. a git worktree of an older commit) while this checkout generates the load,
# so two versions of the server are compared with the same client; SERVER_JAVA_OPTS: JVM options for the node
# only (default: TROUPE_JAVA_OPTS), e.g. -D config overrides to compare settings.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVER_ROOT="${SERVER_ROOT:-$ROOT}"
MODEL="${1:-$ROOT/../shared/models/random15M-f32.gguf}"
THREADS="${2:-2}"
CONC="${3:-1,8,32}"
MAXTOK="${4:-64}"
REQUESTS="${5:-}"
CLIENT="${CLIENT:-raw}"
PORT="${PORT:-18080}"
cd "$ROOT"
[ -f cluster-node/target/troupe-cluster-node.jar ] || mvn -q -DskipTests package
name=$(basename "$MODEL" .gguf)
data=$(mktemp -d)
TROUPE_LOG_LEVEL=WARN TROUPE_JAVA_OPTS="${SERVER_JAVA_OPTS:-${TROUPE_JAVA_OPTS:-}}" "$SERVER_ROOT/bin/troupe" serve --model "$MODEL" --port "$PORT" --threads "$THREADS" --data-dir "$data" \
  2>/tmp/troupe-bench-serve.log &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for i in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
bin/troupe bench serve --url "http://127.0.0.1:$PORT" --model "$name" --concurrency "$CONC" --max-tokens "$MAXTOK" \
  --client "$CLIENT" ${REQUESTS:+--requests "$REQUESTS"} 2>/dev/null
