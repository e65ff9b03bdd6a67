#!/usr/bin/env bash
# Starts a node on MODEL (default: the random 15M F32 model), loads it with bin/troupe bench serve
# (streaming, fixed-length generations), prints the JSON lines, stops the node.
# Usage: bench/serve.sh [MODEL_FILE] [THREADS] [CONCURRENCY] [MAX_TOKENS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="${1:-$ROOT/../shared/models/random15M-f32.gguf}"
THREADS="${2:-2}"
CONC="${3:-1,8,32}"
MAXTOK="${4:-64}"
PORT="${PORT:-18080}"
cd "$ROOT"
[ -f cluster-node/target/troupe-cluster-node.jar ] || mvn -q -DskipTests package
name=$(basename "$MODEL" .gguf)
TROUPE_LOG_LEVEL=WARN bin/troupe serve --model "$MODEL" --port "$PORT" --threads "$THREADS" 2>/tmp/troupe-bench-serve.log &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for i in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
bin/troupe bench serve --url "http://127.0.0.1:$PORT" --model "$name" --concurrency "$CONC" --max-tokens "$MAXTOK" 2>/dev/null
