#!/usr/bin/env sh
# The web server: uvicorn with WEB_CONCURRENCY worker processes (Procfile, docker). Their HTTP
# metrics meet in prometheus-client's multiprocess folder, so /metrics counts every worker's
# requests whichever worker answers the scrape. The folder is emptied at each start: a restart
# resets the counters, which Prometheus expects. Arguments go to uvicorn.
set -eu
dir=${PROMETHEUS_MULTIPROC_DIR:-${VERNISSAGE_DATA_DIR:-var}/metrics-web}
rm -rf "$dir"
mkdir -p "$dir"
export PROMETHEUS_MULTIPROC_DIR="$dir"
exec "${UVICORN:-uvicorn}" config.asgi:application "$@"
