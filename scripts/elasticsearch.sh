#!/usr/bin/env bash
# A real, single-node Elasticsearch server on loopback for development and CI.
#
#   scripts/elasticsearch.sh up       fetch (once), start, wait for yellow/green health, print the URL
#   scripts/elasticsearch.sh down     SIGTERM, wait up to 30 s, then SIGKILL; remove the pid file
#   scripts/elasticsearch.sh status   "running (pid N) at URL" or "not running"
#   scripts/elasticsearch.sh url      print the URL
#
# The server is Elastic's minimal `integ-test-zip` distribution from Maven Central
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch, packaging zip), cached in ~/.m2
# and unpacked under var/elasticsearch/dist/<version>/. It has no bundled JDK and only the
# transport, APM and x-pack core/security modules: no analysis-common, ML, geoip, watcher, and no
# rest-root, so `GET /` answers 405 and elasticsearch-py's info() fails; every other API used here
# (index create/delete, bulk, search, analyze with the built-in analyzers, cluster health) works.
# Security is turned OFF (xpack.security.enabled: false) because it only ever binds 127.0.0.1;
# production clusters keep it on.
#
# Environment: ES_PORT (default 9200), ES_JAVA_HOME (default Temurin 25), ES_HEAP (default 1g:
# Elasticsearch refuses bulk operations beyond 10% of the heap in flight, and a 3 MB file is a ~40 MB
# operation once parsed),
# ES_START_TIMEOUT seconds (default 120), ES_USER (user to run as when invoked as root,
# default starscope-es), M2_REPO (local Maven repository, default ~/.m2/repository).
set -euo pipefail

ES_VERSION=9.5.4   # newest 9.x integ-test-zip found on Maven Central (9.5.5 and 9.5.6 are not published there)
ES_GA=org.elasticsearch.distribution.integ-test-zip:elasticsearch
ES_PORT=${ES_PORT:-9200}
ES_HEAP=${ES_HEAP:-1g}
ES_START_TIMEOUT=${ES_START_TIMEOUT:-120}
ES_USER=${ES_USER:-starscope-es}
export ES_JAVA_HOME=${ES_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
M2_REPO=${M2_REPO:-$HOME/.m2/repository}

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
URL="http://127.0.0.1:${ES_PORT}"

log() { echo "elasticsearch.sh: $*" >&2; }
die() { log "$*"; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as the server's user (root: the unprivileged system user; otherwise: ourselves).
as_es() {
    if is_root; then runuser -u "$ES_USER" -- "$@"; else "$@"; fi
}

ensure_user() {
    is_root || return 0
    if ! id -u "$ES_USER" >/dev/null 2>&1; then
        log "creating system user $ES_USER (Elasticsearch refuses to run as root)"
        useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    fi
}

# Where the distribution, config, data, logs and pid file live. var/elasticsearch in the repo
# unless the server's user cannot reach it; then /tmp/starscope-es-<uid of that user>.
choose_base() {
    BASE="$REPO_ROOT/var/elasticsearch"
    if is_root && id -u "$ES_USER" >/dev/null 2>&1; then
        if ! runuser -u "$ES_USER" -- test -x "$REPO_ROOT"; then
            BASE="/tmp/starscope-es-$(id -u "$ES_USER")"
            [ "${1:-}" = quiet ] || log "$ES_USER cannot traverse $REPO_ROOT; using $BASE instead"
        fi
    fi
    DIST="$BASE/dist/$ES_VERSION"
    CONF="$BASE/config"
    DATA="$BASE/data"
    LOGS="$BASE/logs"
    PIDFILE="$BASE/elasticsearch.pid"
}

# The pid from the pid file, if that process is alive and is an Elasticsearch server.
running_pid() {
    [ -s "$PIDFILE" ] || return 1
    local pid
    pid=$(tr -dc '0-9' <"$PIDFILE")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'org.elasticsearch' || return 1
    echo "$pid"
}

fetch() {
    if [ -x "$DIST/bin/elasticsearch" ]; then return 0; fi
    command -v mvn >/dev/null || die "mvn not found (needed to fetch $ES_GA:$ES_VERSION)"
    local zip="$M2_REPO/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/elasticsearch-$ES_VERSION.zip"
    if [ ! -s "$zip" ]; then
        log "fetching $ES_GA:$ES_VERSION:zip from Maven Central into $M2_REPO"
        mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$M2_REPO" dependency:get \
            -Dartifact="$ES_GA:$ES_VERSION:zip" -Dtransitive=false >&2 \
            || die "mvn could not fetch $ES_GA:$ES_VERSION:zip"
    fi
    [ -s "$zip" ] || die "expected $zip after mvn dependency:get"
    log "unpacking into $DIST"
    mkdir -p "$BASE/dist"
    local tmp
    tmp=$(mktemp -d "$BASE/dist/.unpack.XXXXXX")
    unzip -q "$zip" -d "$tmp"
    mv "$tmp/elasticsearch-$ES_VERSION" "$DIST"
    rmdir "$tmp"
}

write_config() {
    mkdir -p "$CONF" "$DATA" "$LOGS"
    # Start from the distribution's jvm.options / log4j2.properties; our own elasticsearch.yml.
    local f
    for f in jvm.options log4j2.properties; do
        cp "$DIST/config/$f" "$CONF/$f"
    done
    mkdir -p "$CONF/jvm.options.d"
    cat >"$CONF/elasticsearch.yml" <<EOF
# Written by scripts/elasticsearch.sh: a loopback-only single-node dev/CI server.
cluster.name: starscope-dev
node.name: starscope-es
network.host: 127.0.0.1
http.port: $ES_PORT
discovery.type: single-node
path.data: $DATA
path.logs: $LOGS
# Loopback only, so security is off. Production clusters keep it on.
xpack.security.enabled: false
# CI disks may be nearly full; do not refuse shard allocation because of it.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
}

# The integ-test-zip lacks the rest-root module, so `GET /` (and the Python client's info())
# answers 405; read the version from the nodes API instead.
server_version() {
    curl -s --max-time 5 "$URL/_nodes/_local?filter_path=nodes.*.version" \
        | sed -n 's/.*"version":"\([^"]*\)".*/\1/p'
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$ES_PORT") 2>/dev/null
}

cmd_up() {
    ensure_user
    choose_base
    local pid
    if pid=$(running_pid); then
        log "already running (pid $pid)"
        echo "$URL"
        return 0
    fi
    rm -f "$PIDFILE"
    if port_in_use; then
        die "port $ES_PORT on 127.0.0.1 is taken by another process; set ES_PORT"
    fi
    [ -x "$ES_JAVA_HOME/bin/java" ] || die "no Java at ES_JAVA_HOME=$ES_JAVA_HOME (Elasticsearch 9 needs Java 21+)"
    mkdir -p "$BASE"
    fetch
    write_config
    if is_root; then chown -R "$ES_USER": "$BASE"; fi

    log "starting Elasticsearch $ES_VERSION on $URL (data $DATA, logs $LOGS)"
    local t0=$SECONDS
    # The distribution's jvm.options writes gc.log / hs_err files relative to the working directory.
    (cd "$LOGS" && as_es env \
        ES_JAVA_HOME="$ES_JAVA_HOME" \
        ES_PATH_CONF="$CONF" \
        ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
        "$DIST/bin/elasticsearch" -d -p "$PIDFILE" >"$LOGS/launcher.log" 2>&1) || {
        log "the launcher failed; last 40 lines of $LOGS/launcher.log:"
        tail -n 40 "$LOGS/launcher.log" >&2 || true
        exit 1
    }

    # Single node: indices with replicas stay yellow, so yellow or green counts as up.
    local deadline=$((SECONDS + ES_START_TIMEOUT)) status=""
    while [ $SECONDS -lt $deadline ]; do
        status=$(curl -s --max-time 5 "$URL/_cluster/health?wait_for_status=yellow&timeout=5s" \
            | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p') || true
        if [ "$status" = green ] || [ "$status" = yellow ]; then
            log "up in $((SECONDS - t0)) s, Elasticsearch $(server_version), cluster health $status (yellow or green accepted)"
            echo "$URL"
            return 0
        fi
        if ! running_pid >/dev/null && [ $((SECONDS - t0)) -gt 5 ]; then
            log "the server exited during startup"
            break
        fi
        sleep 1
    done
    log "Elasticsearch did not become healthy within ${ES_START_TIMEOUT} s (last status: ${status:-none}); last 40 lines of $LOGS/starscope-dev.log:"
    tail -n 40 "$LOGS/starscope-dev.log" >&2 2>/dev/null || tail -n 40 "$LOGS/launcher.log" >&2 || true
    exit 1
}

cmd_down() {
    choose_base quiet
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        log "not running"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "still running after 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$PIDFILE"
    log "stopped"
}

cmd_status() {
    choose_base quiet
    local pid
    if pid=$(running_pid); then
        echo "running (pid $pid) at $URL, Elasticsearch $(server_version)"
    else
        echo "not running"
        return 1
    fi
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    url) echo "$URL" ;;
    *) echo "usage: $0 up|down|status|url" >&2; exit 2 ;;
esac
