#!/usr/bin/env sh
# The web server: uvicorn with WEB_CONCURRENCY worker processes (Procfile, docker). Their HTTP
# metrics meet in prometheus-client's multiprocess folder, so /metrics counts every worker's
# requests whichever worker answers the scrape. The folder is emptied at each start: a restart
# resets the counters, which Prometheus expects. Arguments go to uvicorn (after ours, so they win).
# permessage-deflate is off unless VERNISSAGE_WS_DEFLATE=true: our frames are small JSON and
# already-compressed preview images, and zlib on every frame was the largest cost per delivery
# (docs/benchmarks.md, "bench/sockets.py").
set -eu
dir=${PROMETHEUS_MULTIPROC_DIR:-${VERNISSAGE_DATA_DIR:-var}/metrics-web}
rm -rf "$dir"
mkdir -p "$dir"
export PROMETHEUS_MULTIPROC_DIR="$dir"
exec "${UVICORN:-uvicorn}" config.asgi:application \
  --ws-per-message-deflate "${VERNISSAGE_WS_DEFLATE:-false}" "$@"
