#!/usr/bin/env bash
# The load benchmark: a warm mock under load next to a bare axum hello-world, in the same run, on
# this machine's loopback only.
#
#   ./deploy/loadbench.sh                       # 5 rounds of 6 s each, 64 connections
#   ROUNDS=9 DURATION=20 CONNECTIONS=128 ./deploy/loadbench.sh
#   PERF=/tmp/mock.perf ./deploy/loadbench.sh   # also profile core 0 during the first round's mock
#   SKIP_BUILD=1 ./deploy/loadbench.sh          # use the release binaries already built
#   DB_CORE=1 ./deploy/loadbench.sh             # the embedded PostgreSQL on core 1, beside the
#                                               # load generator, instead of the server's core
#   MOCK_SETTINGS='{"name": "limited", "rate_limit": {"limit": 1000000, "window_s": 1}}' \
#       ./deploy/loadbench.sh                   # the mock created with these settings
#
# 1. Builds release binaries (lyrebird, hello, loadgen).
# 2. Starts `hello` and `lyrebird serve` pinned to core 0 (lyrebird's embedded PostgreSQL
#    inherits that core; with DATABASE_URL it uses that server instead), signs up, creates a mock
#    of 100 examples whose measured one renders a JSON template, imports a Postman collection
#    (Aruba Central's MSP API, 96 examples, from the importer's test corpus) as a Postman-mode
#    mock whose measured example answers a static JSON body, and warms both. The call log and
#    the monthly quota are on (LYREBIRD_MONTHLY_QUOTA set high enough).
# 3. Starts two more `hello`s on core 0 that answer every request with one mock's response, as
#    `curl -si` read it after the warm-up: the "replays", servers that send the same bytes as
#    the mock and do nothing else. What a mock costs beyond its replay is Lyrebird's own work;
#    what a replay costs beyond the hello-world is the cost of the bigger answer.
# 4. In each round, loads the hello-world, then the template mock's replay and the mock, then
#    the Postman mock's replay and the mock, from `loadgen` pinned to core 1: they are measured
#    back to back, so a slow spell of the machine shows in one round's ratios rather than in the
#    result. Prints each round's rates, p50/p99 and ratios, and their medians (target: each
#    mock at >= 0.7 x hello-world), then checks that the call log holds exactly one logged call
#    per call the mocks answered.
# Without two cores nothing is pinned and the figures mean less. Exits non-zero when the call-log
# check fails. Everything it starts is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-6}"
ROUNDS="${ROUNDS:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
BENCH=loadbench
source deploy/bench-lib.sh

# --- the mock ---------------------------------------------------------------------------------
start_lyrebird
server_pid="${lyrebird_pid}"
plain='{"name":"load benchmark"}'
mock="$(api POST /api/v1/mocks "${MOCK_SETTINGS:-${plain}}" | jq -r .id)"
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

collection=crates/lyrebird-import/tests/corpus/postman/aruba__aruba-postman-collections__Central_msp_api.json
postman_mock="$(curl -sS --fail-with-body "${base}/api/v1/imports/postman?name=postman%20load%20benchmark" \
    -H "authorization: Bearer ${key}" --data-binary @"${collection}" | jq -r .mock.id)"
postman_url="${base}/m/${postman_mock}/msp_api/v1/customers/42"
warm="$(curl -sS --fail-with-body "${postman_url}")"
jq -e .customer_id <<<"${warm}" >/dev/null || fail "the Postman mock answered ${warm}"
say "Postman mock ${postman_mock} answers ${postman_url}: $(head -c 120 <<<"${warm}")..."
warm_calls=2

# --- the replays: the mocks' answers, sent by a server that does nothing else -----------------
declare -A url_of=([mock]="${mock_url}" [postman]="${postman_url}") replay_address replay_pid
for name in mock postman; do
    curl -sS -i --fail-with-body "${url_of[${name}]}" >"${work}/${name}.http"
    warm_calls=$((warm_calls + 1))
    start_hello --answer "${work}/${name}.http"
    replay_address[${name}]="${hello_address}" replay_pid[${name}]="${hello_pid}"
done
start_hello
say "hello-world on ${hello_address}; the mocks' replays on ${replay_address[mock]} and ${replay_address[postman]}"

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

query() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        psql "${DATABASE_URL}" -Atc "$1"
    else
        psql -h "${work}/data/socket" -U lyrebird -d lyrebird -Atc "$1"
    fi
}
count_rows() {
    query "SELECT coalesce(sum(cardinality(call_ids)), 0) FROM call_blocks WHERE mock_id IN ('${mock}', '${postman_mock}')"
}
# The writer works in batches behind the load: waits until it has logged `$1` calls, or has
# logged nothing more for five seconds; sets `rows`.
wait_for_log() {
    local still=0 before
    rows=0
    while [[ "${rows}" -lt "$1" && "${still}" -lt 50 ]]; do
        sleep 0.1
        before="${rows}"
        rows="$(count_rows)"
        if [[ "${rows}" == "${before}" ]]; then still=$((still + 1)); else still=0; fi
    done
}

# --- the rounds -------------------------------------------------------------------------------
# Loads mock `$1` (`mock` or `postman`) at `$2` for one round: adds its CPU time (all the
# server's processes, and lyrebird's alone) and answered calls to that mock's tallies, and sets
# `result` to loadgen's RESULT line.
declare -A ticks=([mock]=0 [postman]=0) lyrebird_ticks=([mock]=0 [postman]=0) answered_by=([mock]=0 [postman]=0)
measure_mock() {
    local name="$1" url="$2" before before_lyrebird
    settle
    # A PostgreSQL backend started during a round is counted from the next load on.
    if [[ -z "${DATABASE_URL:-}" ]]; then
        mapfile -t -O 1 server_pids < <(process_tree "${postmaster}")
    fi
    before="$(cpu_ticks "${server_pids[@]}")"
    before_lyrebird="$(cpu_ticks "${server_pid}")"
    result="$(load "${DURATION}" "${url}")"
    ticks[${name}]=$((ticks[${name}] + $(cpu_ticks "${server_pids[@]}") - before))
    lyrebird_ticks[${name}]=$((lyrebird_ticks[${name}] + $(cpu_ticks "${server_pid}") - before_lyrebird))
    [[ "$(field ok "${result}")" == "$(field answered "${result}")" ]] ||
        fail "the ${name} mock did not answer every call with 2xx"
    answered_by[${name}]=$((answered_by[${name}] + $(field answered "${result}")))
}

# Loads the hello-world or a replay (`$1`: hello, mock_replay or postman_replay; pid `$2`) at
# `$3` for one round: adds its CPU time and answered calls to its tallies, and sets `result`.
declare -A plain_ticks=([hello]=0 [mock_replay]=0 [postman_replay]=0)
declare -A plain_answered=([hello]=0 [mock_replay]=0 [postman_replay]=0)
measure_plain() {
    local name="$1" pid="$2" url="$3" before
    settle
    before="$(cpu_ticks "${pid}")"
    result="$(load "${DURATION}" "${url}")"
    plain_ticks[${name}]=$((plain_ticks[${name}] + $(cpu_ticks "${pid}") - before))
    plain_answered[${name}]=$((plain_answered[${name}] + $(field answered "${result}")))
}

# Per round: "hello_rps hello_p50 hello_p99", then for the template mock and the Postman mock
# each "replay_rps rps p50 p99 ratio ratio_to_replay".
rounds=()
for round in $(seq "${ROUNDS}"); do
    measure_plain hello "${hello_pid}" "http://${hello_address}/"
    hello_rps="$(field rps "${result}")"
    line="${hello_rps} $(field p50_us "${result}") $(field p99_us "${result}")"
    for name in mock postman; do
        measure_plain "${name}_replay" "${replay_pid[${name}]}" "http://${replay_address[${name}]}/"
        replay_rps="$(field rps "${result}")"
        if [[ -n "${PERF:-}" && "${round}" == 1 && "${name}" == mock ]]; then
            perf record -q -a -C 0 -g -F 499 -o "${PERF}" -- sleep "${DURATION}" 2>/dev/null &
            perf_pid=$!
        fi
        measure_mock "${name}" "${url_of[${name}]}"
        if [[ -n "${PERF:-}" && "${round}" == 1 && "${name}" == mock ]]; then
            wait "${perf_pid}" || true
            say "core 0 during the first round's mock load, by process and library (more: perf report -i ${PERF}):"
            perf report -i "${PERF}" --no-children --sort comm,dso --stdio -g none 2>/dev/null \
                | grep '%' | grep -v '^#' | sed -n 1,20p >&2 || true
        fi
        rps="$(field rps "${result}")"
        line+=" ${replay_rps} ${rps} $(field p50_us "${result}") $(field p99_us "${result}")"
        line+=" $(awk -v m="${rps}" -v h="${hello_rps}" -v r="${replay_rps}" 'BEGIN { printf "%.2f %.2f", m / h, m / r }')"
    done
    rounds+=("${line}")
    read -r _ _ _ _ m _ _ _ _ _ p _ <<<"${line}"
    say "round ${round}: hello-world ${hello_rps} requests/s, mock ${m} requests/s, Postman mock ${p} requests/s"
done
kill -TERM "${hello_pid}" "${replay_pid[@]}"
wait "${hello_pid}" "${replay_pid[@]}" 2>/dev/null || true

# --- the call log: one logged call per answered call ------------------------------------------
answered=$((answered_by[mock] + answered_by[postman]))
expected=$((answered + warm_calls))
wait_for_log "${expected}"

blocks="$(query "SELECT count(*) || ' blocks, ' || round(sum(length(calls))::numeric / sum(cardinality(call_ids))) || ' bytes a call' FROM call_blocks WHERE mock_id IN ('${mock}', '${postman_mock}')")"
kill -TERM "${server_pid}"
wait "${server_pid}" 2>/dev/null || true

# --- the figures ------------------------------------------------------------------------------
columns='%-7s %11s %7s %7s | %10s %10s %7s %7s %5s %6s | %10s %10s %7s %7s %5s %6s\n'
# shellcheck disable=SC2059 # the format is the one above
printf "\n${columns}" "" "hello-world" "p50 µs" "p99 µs" "its replay" "mock" "p50 µs" "p99 µs" \
    "ratio" "/ repl" "its replay" "Postman" "p50 µs" "p99 µs" "ratio" "/ repl"
for round in "${!rounds[@]}"; do
    # shellcheck disable=SC2086,SC2059 # the fields of one round, split on purpose
    printf "${columns}" "round $((round + 1))" ${rounds[${round}]}
done
# The median over the rounds of an awk expression of a round's fields (`$8`: the template mock's
# ratio, `$14`: the Postman mock's, `$4 / $1`: the template mock's replay to the hello-world).
median() {
    printf '%s\n' "${rounds[@]}" | awk "{ print $1 }" | sort -n | awk '{ r[NR] = $1 } END { printf "%.2f", r[int((NR + 1) / 2)] }'
}
printf 'ratio mock / hello-world: %s, Postman mock / hello-world: %s, the medians of %s rounds (target >= 0.70)\n' \
    "$(median '$8')" "$(median '$14')" "${ROUNDS}"
printf 'their replays / hello-world: %s and %s; mock / its replay: %s, Postman mock / its replay: %s\n' \
    "$(median '$4 / $1')" "$(median '$10 / $1')" "$(median '$9')" "$(median '$15')"
hz="$(getconf CLK_TCK)"
# CPU per request of the hello-world or a replay (`$1`), in µs.
plain_us() {
    awk -v t="${plain_ticks[$1]}" -v n="${plain_answered[$1]}" -v hz="${hz}" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }'
}
hello_us="$(plain_us hello)"
for name in mock postman; do
    awk -v h="${hello_us}" -v r="$(plain_us "${name}_replay")" -v mt="${ticks[${name}]}" \
        -v lt="${lyrebird_ticks[${name}]}" -v n="${answered_by[${name}]}" -v hz="${hz}" -v name="${name}" '
        BEGIN {
            m = mt / hz / n * 1e6; l = lt / hz / n * 1e6
            printf "server CPU per request, all rounds: hello-world %.1f µs, %s replay %.1f µs, %s %.1f µs (lyrebird %.1f, PostgreSQL %.1f); ratio %.2f, to the replay %.2f\n", h, name, r, name, m, l, m - l, h / m, r / m
        }'
done
printf 'calls logged for the mocks: %s (%s), calls answered: %s (%s + %s under load + %s warm-up)\n' \
    "${rows}" "${blocks}" "${expected}" "${answered_by[mock]}" "${answered_by[postman]}" "${warm_calls}"
if [[ "${rows}" != "${expected}" ]]; then
    grep -i 'call log' "${work}/lyrebird.log" | tail -5 >&2 || true
    fail "the call log does not hold exactly one call per answered call"
fi
say "call log check passed"
