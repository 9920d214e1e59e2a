#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) built from Maven Central jars: no
# Kafka tarball, no Docker. See infra/README.md.
#
#   kafka.sh up     [--port 9092] [--controller-port 9093] [--data-dir var/kafka/data]
#   kafka.sh down   [--data-dir var/kafka/data]
#   kafka.sh status [--data-dir var/kafka/data]     exit 0 running, 3 not running
#   kafka.sh jars                                    resolve the jars only
#
# Relative paths are relative to the repository root; the data dir may also be absolute.
set -euo pipefail

# Keep equal to kafka.version in pom.xml; it is passed to Maven, so this one wins.
readonly KAFKA_VERSION=4.1.2
readonly DEFAULT_PORT=9092
readonly DEFAULT_CONTROLLER_PORT=9093
readonly DEFAULT_DATA_DIR=var/kafka/data
readonly LIBS_DIR=var/kafka/libs
readonly HEAP=512m
# Start-up takes ~3 s on an idle 2-core box, many times that when it is loaded (tests, training).
readonly READY_TIMEOUT_S=${KAFKA_READY_TIMEOUT_S:-120}
# A clean shutdown of a single node takes a few seconds; after this it is killed.
readonly STOP_TIMEOUT_S=30
readonly LOG_TAIL_LINES=40
# LSB convention for "program is not running".
readonly EXIT_NOT_RUNNING=3

cd "$(dirname "$0")/../.."
REPO_ROOT=$(pwd)
readonly REPO_ROOT
readonly INFRA_DIR="$REPO_ROOT/infra/kafka"
readonly STAMP_FILE="$LIBS_DIR/.resolved"

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

usage() {
    cat >&2 <<EOF
usage: kafka.sh up     [--port $DEFAULT_PORT] [--controller-port $DEFAULT_CONTROLLER_PORT] [--data-dir $DEFAULT_DATA_DIR]
       kafka.sh down   [--data-dir $DEFAULT_DATA_DIR]
       kafka.sh status [--data-dir $DEFAULT_DATA_DIR]
       kafka.sh jars
EOF
    exit 2
}

# kill -0 is not enough: a broker that died while still our child (during `up`)
# stays a zombie until this script exits, and kill -0 succeeds on zombies.
is_alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ "$state" != Z* ]]
}

java_bin() {
    if [[ -n "${JAVA_HOME:-}" ]]; then
        [[ -x "$JAVA_HOME/bin/java" ]] || die "JAVA_HOME=$JAVA_HOME has no bin/java"
        echo "$JAVA_HOME/bin/java"
    else
        command -v java || die "java not found on PATH (Kafka $KAFKA_VERSION needs Java 17+)"
    fi
}

# The stamp holds the version and the pom's checksum, so a version bump or a
# pom edit resolves again, while the usual case does not start Maven at all.
stamp_value() {
    echo "$KAFKA_VERSION $(sha256sum "$INFRA_DIR/pom.xml" | cut -d' ' -f1)"
}

libs_are_current() {
    [[ -f "$LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar" && -f "$STAMP_FILE" ]] &&
        [[ "$(cat "$STAMP_FILE")" == "$(stamp_value)" ]]
}

resolve_jars() {
    libs_are_current && return 0
    command -v mvn >/dev/null || die "mvn not found on PATH (needed once, to fetch the Kafka jars)"
    mkdir -p "$(dirname "$LIBS_DIR")"
    # Serialised with a lock: `make kafka-up` and a test session may resolve at once.
    # The subshell keeps the lock's descriptor away from the broker started later.
    (
        flock 9
        libs_are_current && exit 0
        echo "kafka.sh: resolving Kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR (once)"
        local staging="$LIBS_DIR.partial"
        rm -rf "$staging"
        # Default local repository (~/.m2): later resolutions hit the cache.
        # Output kept in a file: even -q leaves stray colour codes on a terminal.
        local log="$LIBS_DIR.maven.log"
        if ! mvn -B -q -Dstyle.color=never -f "$INFRA_DIR/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
            -DoutputDirectory="$REPO_ROOT/$staging" package >"$log" 2>&1; then
            cat "$log" >&2
            die "Maven could not resolve the Kafka jars (output above, also in $log)"
        fi
        # Swapped in whole, so a version bump leaves no stale jars on the classpath.
        rm -rf "$LIBS_DIR"
        mv "$staging" "$LIBS_DIR"
        stamp_value >"$STAMP_FILE"
    ) 9>"$LIBS_DIR.lock"
}

# Sets PORT, CONTROLLER_PORT and DATA_DIR (absolute) from the options.
parse_options() {
    PORT=$DEFAULT_PORT
    CONTROLLER_PORT=$DEFAULT_CONTROLLER_PORT
    local data_dir=$DEFAULT_DATA_DIR
    while (($# > 0)); do
        [[ $# -ge 2 ]] || usage
        case "$1" in
            --port) PORT=$2 ;;
            --controller-port) CONTROLLER_PORT=$2 ;;
            --data-dir) data_dir=$2 ;;
            *) usage ;;
        esac
        shift 2
    done
    [[ "$PORT" =~ ^[0-9]+$ && "$CONTROLLER_PORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
    [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "--port and --controller-port must differ"
    [[ "$data_dir" == /* ]] || data_dir="$REPO_ROOT/$data_dir"
    DATA_DIR=$data_dir
    PID_FILE="$DATA_DIR/kafka.pid"
    PROPS_FILE="$DATA_DIR/server.properties"
    LOGS_DIR="$DATA_DIR/logs"
    LOG_OPTS=(-Dlog4j2.configurationFile="$INFRA_DIR/log4j2.yaml" -Dkafka.logs.dir="$LOGS_DIR")
}

port_open() {
    # bash's /dev/tcp: no nc or python needed; timeout guards a filtered port.
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# The pid of the broker of this data dir, if one runs. A pid is trusted only if
# it is alive and its command line is kafka.Kafka with this data dir's
# properties: after a reboot the number may belong to another process.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid=$(cat "$PID_FILE")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    is_alive "$pid" || return 1
    local args
    args=$(ps -ww -o args= -p "$pid" 2>/dev/null) || return 1
    [[ "$args" == *"kafka.Kafka $PROPS_FILE"* ]] || return 1
    echo "$pid"
}

# The PLAINTEXT port a running broker was started with (from its properties copy).
running_port() {
    sed -n 's/^advertised\.listeners=PLAINTEXT:\/\/[^:]*:\([0-9]*\).*/\1/p' "$PROPS_FILE"
}

show_logs() {
    local log
    for log in "$LOGS_DIR/stdout.log" "$LOGS_DIR/server.log"; do
        [[ -s "$log" ]] || continue
        echo "----- last $LOG_TAIL_LINES lines of $log -----" >&2
        tail -n "$LOG_TAIL_LINES" "$log" >&2
    done
}

write_properties() {
    local line
    : >"$PROPS_FILE.tmp"
    while IFS= read -r line || [[ -n "$line" ]]; do
        # Quoted replacements: a path with '&' must stay literal (bash 5.2 patsub_replacement).
        line=${line//@PORT@/"$PORT"}
        line=${line//@CONTROLLER_PORT@/"$CONTROLLER_PORT"}
        line=${line//@LOG_DIRS@/"$DATA_DIR/kafka-logs"}
        printf '%s\n' "$line" >>"$PROPS_FILE.tmp"
    done <"$INFRA_DIR/server.properties.template"
    mv "$PROPS_FILE.tmp" "$PROPS_FILE"
}

# Formats the log dir once. The cluster id is kept in the data dir, so a
# restart (or a second format attempt) uses the id the log dir already has.
format_storage() {
    local java=$1
    [[ -f "$DATA_DIR/kafka-logs/meta.properties" ]] && return 0
    # Same log4j2 config as the broker: tool logging goes to server.log, so
    # stdout carries only the tool's answer (the cluster id).
    local tool=("$java" -Xmx"$HEAP" "${LOG_OPTS[@]}" -cp "$REPO_ROOT/$LIBS_DIR/*" kafka.tools.StorageTool)
    local id_file="$DATA_DIR/cluster.id"
    if [[ ! -s "$id_file" ]]; then
        "${tool[@]}" random-uuid >"$id_file.tmp"
        mv "$id_file.tmp" "$id_file"
    fi
    # --ignore-formatted: harmless if a crash left a formatted dir without our check passing.
    "${tool[@]}" format -t "$(cat "$id_file")" -c "$PROPS_FILE" --ignore-formatted >"$LOGS_DIR/format.log" 2>&1 ||
        {
            cat "$LOGS_DIR/format.log" >&2
            die "formatting $DATA_DIR/kafka-logs failed"
        }
}

wait_until_ready() {
    local pid=$1
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until port_open "$PORT"; do
        if ! is_alive "$pid"; then
            echo "kafka.sh: the broker exited during start-up" >&2
            show_logs
            rm -f "$PID_FILE"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            echo "kafka.sh: port $PORT not open after ${READY_TIMEOUT_S}s; stopping the broker" >&2
            show_logs
            stop_broker || true
            exit 1
        fi
        sleep 0.5
    done
}

cmd_up() {
    parse_options "$@"
    local pid
    if pid=$(running_pid); then
        local port
        port=$(running_port)
        [[ "$port" == "$PORT" ]] ||
            die "a broker (pid $pid) already runs on $DATA_DIR with port $port, not $PORT"
        # It may still be starting (two `up` calls racing): wait for the port too.
        wait_until_ready "$pid"
        echo "kafka.sh: already running (pid $pid, 127.0.0.1:$PORT, $DATA_DIR)"
        return 0
    fi
    rm -f "$PID_FILE" # stale: its process is gone
    local p
    for p in "$PORT" "$CONTROLLER_PORT"; do
        ! port_open "$p" || die "port $p is in use by another process (another broker on a different data dir?)"
    done

    local java
    java=$(java_bin)
    resolve_jars
    mkdir -p "$DATA_DIR/kafka-logs" "$LOGS_DIR"
    write_properties
    format_storage "$java"

    local started=$SECONDS
    # setsid: the broker leaves the caller's process group, so Ctrl-C in the
    # shell or test run that started it does not kill it half-way; `down` does.
    # All three standard streams are redirected so no caller's pipe stays open.
    nohup setsid "$java" -Xmx"$HEAP" -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        "${LOG_OPTS[@]}" -cp "$REPO_ROOT/$LIBS_DIR/*" kafka.Kafka "$PROPS_FILE" \
        </dev/null >"$LOGS_DIR/stdout.log" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_until_ready "$pid"
    echo "kafka.sh: broker up in $((SECONDS - started))s (pid $pid, 127.0.0.1:$PORT, logs in $LOGS_DIR)"
}

# SIGTERM (a controlled shutdown that flushes the logs), then SIGKILL after STOP_TIMEOUT_S.
stop_broker() {
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PID_FILE"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while is_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.5
    done
    if is_alive "$pid"; then
        echo "kafka.sh: broker $pid ignored SIGTERM for ${STOP_TIMEOUT_S}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        while is_alive "$pid"; do sleep 0.2; done
    fi
    rm -f "$PID_FILE"
}

cmd_down() {
    parse_options "$@"
    if stop_broker; then
        echo "kafka.sh: stopped ($DATA_DIR)"
    else
        echo "kafka.sh: not running ($DATA_DIR)"
    fi
}

cmd_status() {
    parse_options "$@"
    local pid
    if pid=$(running_pid); then
        echo "kafka.sh: running (pid $pid, 127.0.0.1:$(running_port), $DATA_DIR)"
    else
        echo "kafka.sh: not running ($DATA_DIR)"
        exit "$EXIT_NOT_RUNNING"
    fi
}

main() {
    (($# > 0)) || usage
    local command=$1
    shift
    case "$command" in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        jars)
            (($# == 0)) || usage
            resolve_jars
            ;;
        *) usage ;;
    esac
}

main "$@"
