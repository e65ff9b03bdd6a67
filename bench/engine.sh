#!/usr/bin/env bash
# Engine throughput on the shared models against the reference C++ engine figures (../shared/DESIGN.md,
# same machine type, same files, 2 threads), as a Markdown table. Usage: bench/engine.sh [THREADS] [REPS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="$ROOT/../shared/models"
THREADS="${1:-2}"
REPS="${2:-7}"
cd "$ROOT"
[ -f cluster-node/target/troupe-cluster-node.jar ] || mvn -q -DskipTests package
out=$(mktemp)
for m in random15M-f32 random15M-q8_0 stories260K-f32; do
  bin/troupe bench engine --model "$MODELS/$m.gguf" --threads "$THREADS" --reps "$REPS" --batch 1,8,32 2>/dev/null >> "$out"
done
python3 - "$out" <<'PY'
import json, sys
# Reference: an independent optimized C++ engine, 2 threads, this machine type (DESIGN.md).
ref = {"random15M-f32.gguf": {"pp128": 9900, "tg128": 670},
       "random15M-q8_0.gguf": {"pp128": 11300, "tg128": 1400},
       "stories260K-f32.gguf": {"pp128": 22500, "tg128": 4300}}
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["model"], {})[r["test"]] = r
print("| model | test | Troupe tokens/s | reference tokens/s | Troupe / reference | runs (tokens/s) |")
print("| --- | --- | ---: | ---: | ---: | --- |")
for model, tests in by.items():
    for t, r in tests.items():
        rf = ref.get(model, {}).get(t)
        ratio = "%.2f" % (r["tokens_per_s"] / rf) if rf else "—"
        print("| %s | %s | %.0f | %s | %s | %s |" % (model, t, r["tokens_per_s"], rf or "—", ratio,
              ", ".join("%.0f" % x for x in r["runs_tokens_per_s"])))
    if "batch32" in tests and "tg128" in tests:
        print("| %s | batch32 / tg128 | | | %.2fx | |" % (model, tests["batch32"]["tokens_per_s"] / tests["tg128"]["tokens_per_s"]))
print()
print("backend: %s, threads: %s" % (rows[0]["backend"], rows[0]["threads"]))
PY
rm -f "$out"
