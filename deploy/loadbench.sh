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
#    checks that the call log holds exactly one logged call per call the mock answered.
# Without two cores nothing is pinned and the figures mean less. Exits non-zero when the call-log
# check fails. Everything it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
BENCH=loadbench
source deploy/bench-lib.sh

# --- the bare hello-world ---------------------------------------------------------------------
"${server_cpu[@]}" "${bin}/hello" --listen 127.0.0.1:0 >"${work}/hello.log" 2>&1 &
hello_pid=$!
pids+=("${hello_pid}")
hello_address="$(wait_for_line "${work}/hello.log" 'listening on ' "${hello_pid}")" ||
    fail "the hello-world did not start: $(cat "${work}/hello.log")"
say "hello-world on ${hello_address}"
hello_ticks="$(cpu_ticks "${hello_pid}")"
hello_result="$(load "${DURATION}" "http://${hello_address}/")"
hello_ticks=$(($(cpu_ticks "${hello_pid}") - hello_ticks))
kill -TERM "${hello_pid}"
wait "${hello_pid}" 2>/dev/null || true

# --- the mock ---------------------------------------------------------------------------------
start_lyrebird
server_pid="${lyrebird_pid}"
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
    mapfile -t -O 1 server_pids < <(process_tree "${postmaster}")
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
mock_result="$(load "${DURATION}" "${mock_url}")"
mock_ticks=$(($(cpu_ticks "${server_pids[@]}") - mock_ticks))
lyrebird_ticks=$(($(cpu_ticks "${server_pid}") - lyrebird_ticks))
if [[ -n "${PERF:-}" ]]; then
    wait "${perf_pid}" || true
    say "core 0 during the mock's load, by process and library (more: perf report -i ${PERF}):"
    perf report -i "${PERF}" --no-children --sort comm,dso --stdio -g none 2>/dev/null \
        | grep '%' | grep -v '^#' | sed -n 1,20p >&2 || true
fi

# --- the call log: one logged call per answered call ------------------------------------------
answered="$(field answered "${mock_result}")"
[[ "$(field ok "${mock_result}")" == "${answered}" ]] || fail "the mock did not answer every call with 2xx"
expected=$((answered + warm_calls))
query() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        psql "${DATABASE_URL}" -Atc "$1"
    else
        psql -h "${work}/data/socket" -U lyrebird -d lyrebird -Atc "$1"
    fi
}
count_rows() {
    query "SELECT coalesce(sum(cardinality(call_ids)), 0) FROM call_blocks WHERE mock_id = '${mock}'"
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

blocks="$(query "SELECT count(*) || ' blocks, ' || round(sum(length(calls))::numeric / sum(cardinality(call_ids))) || ' bytes a call' FROM call_blocks WHERE mock_id = '${mock}'")"
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
printf 'calls logged for the mock: %s (%s), calls answered: %s (%s under load + %s warm-up)\n' \
    "${rows}" "${blocks}" "${expected}" "${answered}" "${warm_calls}"
if [[ "${rows}" != "${expected}" ]]; then
    grep -i 'call log' "${work}/lyrebird.log" | tail -5 >&2 || true
    fail "the call log does not hold exactly one call per answered call"
fi
say "call log check passed"
