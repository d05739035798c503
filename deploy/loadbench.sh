#!/usr/bin/env bash
# The load benchmark: a warm mock under load next to a bare axum hello-world, in the same run, on
# this machine's loopback only.
#
#   ./deploy/loadbench.sh                       # 10 s each, 64 connections
#   DURATION=30 CONNECTIONS=128 ./deploy/loadbench.sh
#   PERF=/tmp/mock.perf ./deploy/loadbench.sh   # also profile core 0 during the mock's load
#   SKIP_BUILD=1 ./deploy/loadbench.sh          # use the release binaries already built
#   DB_CORE=1 ./deploy/loadbench.sh             # the embedded PostgreSQL on core 1, beside the
#                                               # load generator, instead of the server's core
#
# 1. Builds release binaries (lyrebird, hello, loadgen).
# 2. Runs `hello` pinned to core 0 and loads it from `loadgen` pinned to core 1.
# 3. Runs `lyrebird serve` pinned to core 0 (its embedded PostgreSQL inherits that core; with
#    DATABASE_URL it uses that server instead), signs up, creates a mock of 100 examples whose
#    measured one renders a JSON template, warms it, and loads it the same way, with the call log
#    and the monthly quota on (LYREBIRD_MONTHLY_QUOTA set high enough).
# 4. Prints both rates, p50/p99 and the ratio (target: the mock at >= 0.5 x hello-world), then
#    checks that the call log holds exactly one row per call the mock answered.
# Without two cores nothing is pinned and the figures mean less. Exits non-zero when the row
# check fails. Everything it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
# Request logging of every call at INFO would measure the terminal, not the server.
export RUST_LOG="${RUST_LOG:-warn,lyrebird_server=info}"

say() { printf 'loadbench: %s\n' "$*" >&2; }
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
fail() { say "$*"; exit 1; }

for tool in curl jq taskset; do
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

if [[ -z "${SKIP_BUILD:-}" ]]; then
    say "building release binaries"
    cargo build --release --quiet -p lyrebird-server -p lyrebird-loadbench
fi
bin="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release"

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
# follows it on that line.
wait_for_line() {
    local file="$1" pattern="$2" pid="$3"
    for _ in $(seq 1200); do
        if grep -q -- "${pattern}" "${file}" 2>/dev/null; then
            grep -m1 -o -- "${pattern}[^ ]*" "${file}" | sed "s/^${pattern}//"
            return 0
        fi
        kill -0 "${pid}" 2>/dev/null || { cat "${file}" >&2; fail "the process exited"; }
        sleep 0.1
    done
    cat "${file}" >&2
    fail "timed out waiting for '${pattern}' in ${file}"
}

# Runs loadgen on the load core; prints its report to stderr and its RESULT line to stdout.
load() {
    local out
    out="$("${load_cpu[@]}" "${bin}/loadgen" -c "${CONNECTIONS}" -d "${DURATION}" "$@")"
    printf '%s\n' "${out}" | grep -v '^RESULT' >&2
    printf '%s\n' "${out}" | grep '^RESULT'
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# CPU time (user + system, in clock ticks) the given processes have used so far. With other work
# on the machine the rates above shift; CPU time per request does not, so the ratio of those is
# printed too: what the rates' ratio would be with each server alone on its core.
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        [[ -r "/proc/${pid}/stat" ]] || continue
        total=$((total + $(sed 's/.*) //' "/proc/${pid}/stat" | awk '{ print $12 + $13 }')))
    done
    echo "${total}"
}

# --- the bare hello-world ---------------------------------------------------------------------
"${server_cpu[@]}" "${bin}/hello" --listen 127.0.0.1:0 >"${work}/hello.log" 2>&1 &
hello_pid=$!
pids+=("${hello_pid}")
hello_address="$(wait_for_line "${work}/hello.log" 'listening on ' "${hello_pid}")"
say "hello-world on ${hello_address}"
hello_ticks="$(cpu_ticks "${hello_pid}")"
hello_result="$(load "http://${hello_address}/")"
hello_ticks=$(($(cpu_ticks "${hello_pid}") - hello_ticks))
kill -TERM "${hello_pid}"
wait "${hello_pid}" 2>/dev/null || true

# --- the mock ---------------------------------------------------------------------------------
LYREBIRD_DATA_DIR="${work}/data" LYREBIRD_MONTHLY_QUOTA=1000000000 \
    "${server_cpu[@]}" "${bin}/lyrebird" serve --listen 127.0.0.1:0 >"${work}/lyrebird.log" 2>&1 &
server_pid=$!
pids+=("${server_pid}")
address="$(wait_for_line "${work}/lyrebird.log" 'listen=' "${server_pid}")"
base="http://${address}"
say "lyrebird on ${address}"

api() {
    local method="$1" path="$2" body="${3:-}"
    local args=(-sS --fail-with-body -X "${method}" "${base}${path}" -H 'content-type: application/json')
    [[ -n "${key:-}" ]] && args+=(-H "authorization: Bearer ${key}")
    [[ -n "${body}" ]] && args+=(--data-binary "${body}")
    curl "${args[@]}"
}

# A new account each run, so a DATABASE_URL that served an earlier run does not refuse the email.
email="loadbench-$(date +%s)-$$@example.com"
key="$(api POST /api/v1/accounts "{\"email\":\"${email}\",\"password\":\"correct horse battery\"}" | jq -r .api_key)"
mock="$(api POST /api/v1/mocks '{"name":"load benchmark"}' | jq -r .id)"
# 99 plain examples (products by id, some POST, some needing a header) and the measured one: an
# order rendered from a JSON template with the captured id, the request URL and the clock.
examples="$(jq -n '
  [range(0; 99) | {
      name: "product \(.)",
      request: ({method: (if . % 3 == 0 then "POST" else "GET" end), path: "/products/\(.)"}
               + (if . % 5 == 0 then {headers: {accept: "application/json"}} else {} end)),
      response: {status: 200, body: {id: ., name: "Product \(.)", price: (. * 1.5), tags: ["a", "b"]}}
  }]
  + [{
      name: "get an order",
      request: {method: "GET", path: "/orders/:id"},
      response: {
        status: 200,
        headers: [{name: "Cache-Control", value: "no-store"}],
        body: {
          id: "{{ path.id }}", status: "shipped", url: "{{ request.url }}", at: "{{ now() }}",
          customer: {name: "Ada Lovelace", email: "ada@example.com"},
          items: [{sku: "A1", qty: 2, price: 9.5}, {sku: "B2", qty: 1, price: 80.5}],
          total: 99.5
        },
        template: true
      }
  }]')"
api PUT "/api/v1/mocks/${mock}/examples" "${examples}" >/dev/null
mock_url="${base}/m/${mock}/orders/42"
warm="$(curl -sS --fail-with-body "${mock_url}")"
[[ "$(jq -r .id <<<"${warm}")" == 42 ]] || fail "the mock answered ${warm}"
say "mock ${mock} answers ${mock_url}: ${warm}"
warm_calls=1

if [[ -n "${PERF:-}" ]]; then
    perf record -q -a -C 0 -g -F 499 -o "${PERF}" -- sleep "${DURATION}" 2>/dev/null &
    perf_pid=$!
fi
# The server's processes: lyrebird and, when embedded, its PostgreSQL (postmaster and backends;
# the PostgreSQL of a DATABASE_URL is not counted).
server_pids=("${server_pid}")
if [[ -z "${DATABASE_URL:-}" ]]; then
    postmaster="$(head -n 1 "${work}/data/postgres/postmaster.pid")"
    server_pids+=("${postmaster}" $(ps -o pid= --ppid "${postmaster}"))
    if [[ -n "${DB_CORE:-}" ]]; then
        # New backends fork from the postmaster and inherit its core.
        for pid in "${server_pids[@]:1}"; do
            taskset -a -p -c "${DB_CORE}" "${pid}" >/dev/null
        done
        say "PostgreSQL moved to core ${DB_CORE}"
    fi
fi
mock_ticks="$(cpu_ticks "${server_pids[@]}")"
lyrebird_ticks="$(cpu_ticks "${server_pid}")"
mock_result="$(load "${mock_url}")"
mock_ticks=$(($(cpu_ticks "${server_pids[@]}") - mock_ticks))
lyrebird_ticks=$(($(cpu_ticks "${server_pid}") - lyrebird_ticks))
if [[ -n "${PERF:-}" ]]; then
    wait "${perf_pid}" || true
    say "core 0 during the mock's load, by process and library (more: perf report -i ${PERF}):"
    perf report -i "${PERF}" --no-children --sort comm,dso --stdio -g none 2>/dev/null \
        | grep '%' | grep -v '^#' | sed -n 1,20p >&2 || true
fi

# --- the call log: one row per answered call --------------------------------------------------
answered="$(field answered "${mock_result}")"
[[ "$(field ok "${mock_result}")" == "${answered}" ]] || fail "the mock did not answer every call with 2xx"
expected=$((answered + warm_calls))
count_rows() {
    local sql="SELECT count(*) FROM calls WHERE mock_id = '${mock}'"
    if [[ -n "${DATABASE_URL:-}" ]]; then
        psql "${DATABASE_URL}" -Atc "${sql}"
    else
        psql -h "${work}/data/socket" -U lyrebird -d lyrebird -Atc "${sql}"
    fi
}
# The writer works in batches behind the load: wait until it has written them all, or has
# written nothing more for five seconds.
rows=0
still=0
while [[ "${rows}" -lt "${expected}" && "${still}" -lt 50 ]]; do
    sleep 0.1
    before="${rows}"
    rows="$(count_rows)"
    if [[ "${rows}" == "${before}" ]]; then still=$((still + 1)); else still=0; fi
done

kill -TERM "${server_pid}"
wait "${server_pid}" 2>/dev/null || true

# --- the figures ------------------------------------------------------------------------------
hello_rps="$(field rps "${hello_result}")"
mock_rps="$(field rps "${mock_result}")"
ratio="$(awk -v m="${mock_rps}" -v h="${hello_rps}" 'BEGIN { printf "%.2f", m / h }')"
printf '\n%-12s %12s %10s %10s\n' "" "requests/s" "p50 µs" "p99 µs"
printf '%-12s %12s %10s %10s\n' "hello-world" "${hello_rps}" "$(field p50_us "${hello_result}")" "$(field p99_us "${hello_result}")"
printf '%-12s %12s %10s %10s\n' "mock" "${mock_rps}" "$(field p50_us "${mock_result}")" "$(field p99_us "${mock_result}")"
printf 'ratio mock / hello-world: %s (target >= 0.50)\n' "${ratio}"
hz="$(getconf CLK_TCK)"
hello_answered="$(field answered "${hello_result}")"
awk -v ht="${hello_ticks}" -v hn="${hello_answered}" -v mt="${mock_ticks}" -v lt="${lyrebird_ticks}" \
    -v mn="${answered}" -v hz="${hz}" '
    BEGIN {
        h = ht / hz / hn * 1e6; m = mt / hz / mn * 1e6; l = lt / hz / mn * 1e6
        printf "server CPU per request: hello-world %.1f µs, mock %.1f µs (lyrebird %.1f, PostgreSQL %.1f); ratio %.2f\n", h, m, l, m - l, h / m
    }'
printf 'call log rows for the mock: %s, calls answered: %s (%s under load + %s warm-up)\n' \
    "${rows}" "${expected}" "${answered}" "${warm_calls}"
if [[ "${rows}" != "${expected}" ]]; then
    grep -i 'call log' "${work}/lyrebird.log" | tail -5 >&2 || true
    fail "the call log does not hold exactly one row per answered call"
fi
say "call log check passed"
