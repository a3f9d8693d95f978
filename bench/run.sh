#!/usr/bin/env bash
# Build the C pty floors and run every linelab benchmark; the markdown tables go to
# stdout and to bench/out/latest.md (per-round figures: bench/out/*.json).
#   bench/run.sh            full run (about a minute on 2 cores)
#   bench/run.sh --quick    quick run (1 round, small N, about 30 s)
#   bench/run.sh --smoke    the quick run as a check that every benchmark still runs
#                           (CI: tools/test-all); exits non-zero if one of them failed
#   PYTHON=...              interpreter with linelab installed (default: $VIRTUAL_ENV's,
#                           ../.venv's, the one beside `linelab` on PATH, else python3)
#   CC=gcc                  C compiler for the floors
# Benchmarks are not tests: each prints its figures as ratios against floors measured in
# the same run (see docs/benchmarks.md).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# A relative PYTHON (the README's PYTHON=.venv/bin/python) means relative to where the
# command was run, not to bench/, which is where the rest of this script runs.
if [ -n "${PYTHON:-}" ] && [ "${PYTHON#/}" = "$PYTHON" ] && [ "${PYTHON#*/}" != "$PYTHON" ]; then
  PYTHON="$PWD/$PYTHON"
fi
cd "$HERE"
QUICK=()
for arg in "$@"; do
  case "$arg" in
    --quick|--smoke) QUICK=(--quick) ;;
    -h|--help) sed -n "2,12p" "$HERE/$(basename "${BASH_SOURCE[0]}")"; exit 0 ;;
    *) echo "run.sh: unknown option $arg (--quick or --smoke)" >&2; exit 2 ;;
  esac
done

if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  for candidate in "${VIRTUAL_ENV:-/nonexistent}/bin/python" "$HERE/../.venv/bin/python" \
      "$(dirname "$(command -v linelab 2>/dev/null || echo /nonexistent/x)")/python"; do
    if [ -x "$candidate" ]; then PYTHON="$candidate"; break; fi
  done
fi
if ! "$PYTHON" -c 'import emulator, linelab' >/dev/null 2>&1; then
  echo "run.sh: $PYTHON cannot import linelab (set PYTHON to your virtualenv's python)" >&2
  exit 2
fi

CC="${CC:-gcc}"
mkdir -p build out
rm -f out/*.json  # the summary reads only this run's figures
for src in floors/c/*.c; do
  "$CC" -O2 -Wall -Wextra -o "build/$(basename "${src%.c}")" "$src" || exit 2
done
echo "built: $(ls build | tr '\n' ' ')" >&2

OUT=out/latest.md
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
status=0
{
  echo "# linelab benchmarks"
  echo
  [ ${#QUICK[@]} -gt 0 ] && echo "**Quick run** (1 round, small N): a smoke check, not figures to quote." && echo
  "$PYTHON" - <<'EOF'
import sys
sys.path.insert(0, ".")
import benchlib
for key, value in benchlib.machine().items():
    print(f"- {key}: {value}")
EOF
  echo "- commit: $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo n/a)$(git -C "$HERE" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
  echo
} > "$TMP/head.md"

RUNNER=(env)  # what each benchmark is started under (a time limit for ports_burst)
run() {  # run NAME SCRIPT [ARGS...]: append its markdown, keep going on failure
  local name="$1"; shift
  echo "== $name" >&2
  if "${RUNNER[@]}" "$PYTHON" "$@" > "$TMP/$name.md"; then :; else
    echo "run.sh: $name failed (exit $?)" >&2
    status=1
    [ -s "$TMP/$name.md" ] || echo "## $name: failed, see stderr" > "$TMP/$name.md"
  fi
}

run engine_throughput engine_throughput.py "${QUICK[@]}" --json out/engine_throughput.json
run modem_latency modem_latency.py "${QUICK[@]}" --json out/modem_latency.json
run modem_throughput modem_throughput.py "${QUICK[@]}" --json out/modem_throughput.json
run tapi_stack tapi_stack.py "${QUICK[@]}" --json out/tapi_stack.json
run state_machine state_machine.py "${QUICK[@]}" --json out/state_machine.json
run virtual_time virtual_time.py "${QUICK[@]}" --json out/virtual_time.json
run tapi_server tapi_server.py "${QUICK[@]}" --json out/tapi_server.json
run modem_farm modem_farm.py "${QUICK[@]}" --json out/modem_farm.json
# bench/ports_burst.py belongs to the ports work; run it when present, same conventions.
# Bounded by PORTS_BURST_TIMEOUT seconds (default 600) so a hang cannot stall the run.
if [ -f ports_burst.py ]; then
  command -v timeout >/dev/null 2>&1 && RUNNER=(timeout -k 10 "${PORTS_BURST_TIMEOUT:-600}")
  if "$PYTHON" ports_burst.py --help 2>/dev/null | grep -q -- --quick; then
    run ports_burst ports_burst.py "${QUICK[@]}"
  else
    run ports_burst ports_burst.py
  fi
fi

{
  cat "$TMP/head.md"
  # The one table (issue 12's rows, each against its floor and goal), then the details.
  "$PYTHON" summary.py --no-machine out
  echo
  for name in engine_throughput modem_latency modem_throughput tapi_stack virtual_time \
      tapi_server modem_farm state_machine ports_burst; do
    [ -f "$TMP/$name.md" ] && { cat "$TMP/$name.md"; echo; }
  done
} > "$OUT"
cat "$OUT"
echo "written: bench/$OUT" >&2
exit "$status"
