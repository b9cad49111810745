#!/usr/bin/env bash
# The suite, N times in a row (default 3) on a fresh clone of HEAD, with two `nice` busy loops
# running the whole time: a flake or a hang shows up as a failed or timed-out pass.
#   scripts/passes_under_load.sh [N]      (uses DATABASE_URL/REDIS_URL like .ci/run; exits non-zero
#                                          on the first failing pass)
set -euo pipefail
passes=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/vernissage-passes.XXXX)
git clone -q "$repo" "$work/p"
[ -e "$repo/../shared" ] && ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
loops=()
for _ in 1 2; do nice -n 19 bash -c 'while :; do :; done' & loops+=($!); done
trap 'kill "${loops[@]}" 2>/dev/null || true' EXIT
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/vernissage}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/9}
cd "$work/p"
for pass in $(seq "$passes"); do
  started=$(date +%s)
  if make test > "$work/pass-$pass.log" 2>&1; then result=passed; else result=FAILED; fi
  echo "pass $pass: $result in $(( $(date +%s) - started )) s ($(tail -n 1 "$work/pass-$pass.log" | tr -d '='))"
  [ "$result" = passed ] || { echo "log: $work/pass-$pass.log"; exit 1; }
done
echo "{\"passes\": $passes, \"failed\": 0, \"logs\": \"$work\"}"
