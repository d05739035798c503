# shellcheck shell=bash
# What the benchmark scripts (loadbench.sh, peerbench.sh, statebench.sh) share; sourced, not run. The sourcing
# script sets BENCH (its name, for messages) first. Sourcing it:
# - checks the tools (curl, jq, taskset, cargo),
# - sets `server_cpu` and `load_cpu` (taskset for cores 0 and 1, or nothing on one core),
# - builds the release binaries unless SKIP_BUILD is set, and sets `target_dir` and `bin`,
# - makes the work directory `work`, and stops every pid in `pids` and removes `work` on exit.
# Only loopback addresses are ever a target.

# Request logging of every call at INFO would measure the terminal, not the server.
export RUST_LOG="${RUST_LOG:-warn,lyrebird_server=info}"

say() { printf '%s: %s\n' "${BENCH}" "$*" >&2; }
fail() { say "$*"; exit 1; }
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"

for tool in curl jq taskset cargo; do
    command -v "${tool}" >/dev/null || fail "${tool} is missing (Debian: apt-get install ${tool/taskset/util-linux})"
done

if [[ "$(nproc)" -ge 2 ]]; then
    server_cpu=(taskset -c 0)
    load_cpu=(taskset -c 1)
else
    say "only one core: nothing is pinned, server and load generator share it"
    server_cpu=()
    load_cpu=()
fi

target_dir="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
if [[ -z "${SKIP_BUILD:-}" ]]; then
    say "building release binaries"
    cargo build --release --quiet -p lyrebird-server -p lyrebird-loadbench
fi
bin="${target_dir}/release"
for binary in lyrebird loadgen hello; do
    [[ -x "${bin}/${binary}" ]] || fail "${bin}/${binary} is missing: run without SKIP_BUILD"
done

work="$(mktemp -d)"
# The embedded cluster runs as the `postgres` user when we are root: it must reach the data dir.
chmod 755 "${work}"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "${pid}" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "${pid}" 2>/dev/null || true
    done
    rm -rf "${work}"
}
trap cleanup EXIT

# Waits until `pattern` appears in `file` (up to 120 s, a first start runs initdb); prints what
# follows it on that line. Fails when process `pid` exits first or the time is up.
wait_for_line() {
    local file="$1" pattern="$2" pid="$3"
    for _ in $(seq 1200); do
        if grep -q -- "${pattern}" "${file}" 2>/dev/null; then
            grep -m1 -o -- "${pattern}[^ ]*" "${file}" | sed "s/^${pattern}//"
            return 0
        fi
        kill -0 "${pid}" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Runs loadgen on the load core for `seconds` against `url` (further arguments go to loadgen:
# `-X POST --body ... -H ...`); its report goes to stderr, its RESULT line to stdout.
load() {
    local seconds="$1" url="$2" out
    out="$("${load_cpu[@]}" "${bin}/loadgen" -c "${CONNECTIONS}" -d "${seconds}" "${@:3}" "${url}")" || return 1
    printf '%s\n' "${out}" | grep -v '^RESULT' >&2
    printf '%s\n' "${out}" | grep '^RESULT'
}

# A field of loadgen's RESULT line: `field rps "${result}"`.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# CPU time (user + system, in clock ticks) the given processes have used so far. With other work
# on the machine the rates shift; CPU time per request does not, so it is printed too.
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        [[ -r "/proc/${pid}/stat" ]] || continue
        total=$((total + $(sed 's/.*) //' "/proc/${pid}/stat" | awk '{ print $12 + $13 }')))
    done
    echo "${total}"
}

# Waits (10 s at most) until the server's processes (the caller's `server_pids`) are idle: what a load leaves behind (the
# call log's last batches, PostgreSQL's background work) is not measured as the next load's.
settle() {
    local before
    for _ in $(seq 20); do
        before="$(cpu_ticks "${server_pids[@]}")"
        sleep 0.5
        [[ $(($(cpu_ticks "${server_pids[@]}") - before)) -le 1 ]] && return
    done
}

# `pid` and all its descendants.
process_tree() {
    local child
    echo "$1"
    for child in $(ps -o pid= --ppid "$1"); do
        process_tree "${child}"
    done
}

# Starts the bare hello-world on the server core (further arguments go to `hello`: `--answer
# FILE`); sets `hello_pid` and `hello_address`.
start_hello() {
    local log
    log="$(mktemp -p "${work}" hello-XXXX.log)"
    "${server_cpu[@]}" "${bin}/hello" --listen 127.0.0.1:0 "$@" >"${log}" 2>&1 &
    hello_pid=$!
    pids+=("${hello_pid}")
    hello_address="$(wait_for_line "${log}" 'listening on ' "${hello_pid}")" ||
        fail "the hello-world did not start: $(cat "${log}")"
}

# Starts `lyrebird serve` on the server core with a data directory (and so an embedded
# PostgreSQL, unless DATABASE_URL is set) in `work` and the monthly quota high enough; sets
# `lyrebird_pid` and `base`, signs up and sets `key` for `api`.
start_lyrebird() {
    local address email
    LYREBIRD_DATA_DIR="${work}/data" LYREBIRD_MONTHLY_QUOTA=1000000000 \
        "${server_cpu[@]}" "${bin}/lyrebird" serve --listen 127.0.0.1:0 >"${work}/lyrebird.log" 2>&1 &
    lyrebird_pid=$!
    pids+=("${lyrebird_pid}")
    if ! address="$(wait_for_line "${work}/lyrebird.log" 'listen=' "${lyrebird_pid}")"; then
        tail -n 20 "${work}/lyrebird.log" >&2
        fail "lyrebird did not start"
    fi
    base="http://${address}"
    say "lyrebird on ${address}"
    # A new account each run, so a DATABASE_URL that served an earlier run does not refuse it.
    email="${BENCH}-$(date +%s)-$$@example.com"
    key="$(api POST /api/v1/accounts "{\"email\":\"${email}\",\"password\":\"correct horse battery\"}" | jq -r .api_key)"
}

# A call of Lyrebird's admin API with the signed-up account's key: `api METHOD PATH [BODY]`.
api() {
    local method="$1" path="$2" body="${3:-}"
    local args=(-sS --fail-with-body -X "${method}" "${base}${path}" -H 'content-type: application/json')
    [[ -n "${key:-}" ]] && args+=(-H "authorization: Bearer ${key}")
    [[ -n "${body}" ]] && args+=(--data-binary "${body}")
    curl "${args[@]}"
}
