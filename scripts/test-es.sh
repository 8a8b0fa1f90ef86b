#!/usr/bin/env bash
# `make test-es`: the suite's Elasticsearch half (tests marked `es`) against a real server.
#
# With ELASTICSEARCH_URL set, that server is used as it is. Otherwise the local development
# server (scripts/elasticsearch.sh) is used, started first if it is not running and stopped at
# the end if this script started it; the tests may then also stop and restart it to test a
# build that loses its server (STARSCOPE_ES_CONTROL names the script they call).
set -euo pipefail
cd "$(dirname "$0")/.."

started=""
if [ -z "${ELASTICSEARCH_URL:-}" ]; then
    if ! scripts/elasticsearch.sh status | grep -q '^running'; then
        scripts/elasticsearch.sh up >/dev/null
        started=1
    fi
    trap '[ -z "$started" ] || scripts/elasticsearch.sh down' EXIT
    ELASTICSEARCH_URL=$(scripts/elasticsearch.sh url)
    export ELASTICSEARCH_URL
    export STARSCOPE_ES_CONTROL="$PWD/scripts/elasticsearch.sh"
fi
echo "test-es: Elasticsearch at $ELASTICSEARCH_URL" >&2
.venv/bin/python -m pytest -q -m es "$@"
