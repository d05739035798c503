#!/usr/bin/env bash
# The state benchmark (docs/performance.md, "Mocks with state"): what reading and writing a
# mock's state costs a call, on this machine's loopback only.
#
#   ./deploy/statebench.sh                  # 5 rounds of 5 s each, 64 connections
#   SKIP_BUILD=1 ROUNDS=3 ./deploy/statebench.sh
#   PERF=/tmp/post.perf ./deploy/statebench.sh  # also profile lyrebird during the last POST run
#
# 1. Builds release binaries and starts `lyrebird serve` pinned to core 0 (its embedded
#    PostgreSQL inherits that core), with two mocks: a plain one whose example answers a small
#    JSON body, and one with state: an example that requires a scenario's state and answers the
#    same body, and a collection of 100 records served as REST.
# 2. In each round, loads from core 1, one after the other: the plain example, the scenario
#    example and `GET /todos/42` (both only read the state, kept in memory), and prints each one's
#    rate and the server's CPU (lyrebird and PostgreSQL) per call. Target: the two reads within
#    1.2x the plain example's CPU per call.
# 3. Then `POST /todos` (a record created per call, one transaction each) for REQUESTS calls at
#    most, once with 64 connections and once with 1, each run in a state key of its own, and
#    prints its rate, latency and CPU per call.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-5}"
ROUNDS="${ROUNDS:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
REQUESTS="${REQUESTS:-9000}"
BENCH=statebench
source deploy/bench-lib.sh

start_lyrebird
body='{"id": 42, "title": "Task 42", "done": false}'
plain="$(api POST /api/v1/mocks '{"name":"plain"}' | jq -r .id)"
api POST "/api/v1/mocks/${plain}/examples" "$(jq -n --argjson body "${body}" \
    '{name: "task", request: {method: "GET", path: "/task"}, response: {body: $body}}')" >/dev/null
seed="$(jq -n '[range(1; 101) | {id: ., title: "Task \(.)", done: false}]')"
stateful="$(api POST /api/v1/mocks "$(jq -n --argjson seed "${seed}" \
    '{name: "with state", collections: {todos: {seed: $seed}}}')" | jq -r .id)"
api PUT "/api/v1/mocks/${stateful}/examples" "$(jq -n --argjson body "${body}" '[
    {name: "task", request: {method: "GET", path: "/task"}, response: {body: $body},
     scenario: {name: "login", requires: "started"}},
    {name: "todos", request: {path: "/todos"}, resource: {collection: "todos"}}
]')" >/dev/null

declare -A urls=(
    [plain]="${base}/m/${plain}/task"
    [scenario]="${base}/m/${stateful}/task"
    [record]="${base}/m/${stateful}/todos/42"
)
order=(plain scenario record)
for name in "${order[@]}"; do
    answer="$(curl -sS --fail-with-body "${urls[${name}]}")"
    [[ "$(jq -r .id <<<"${answer}")" == 42 ]] || fail "${name} answered ${answer}"
done

server_pids=("${lyrebird_pid}")
postmaster="$(head -n 1 "${work}/data/postgres/postmaster.pid")"
refresh_pids() { mapfile -t -O 1 server_pids < <(process_tree "${postmaster}"); }
refresh_pids
hz="$(getconf CLK_TCK)"
# Loads `url` with loadgen's further arguments; prints "rps p50 p99 answered µs-per-call
# lyrebird-µs-per-call" (CPU of the server's processes, and of lyrebird alone).
measure() {
    local seconds="$1" url="$2" before before_lyrebird result answered
    settle
    before="$(cpu_ticks "${server_pids[@]}")"
    before_lyrebird="$(cpu_ticks "${lyrebird_pid}")"
    result="$(load "${seconds}" "${url}" "${@:3}")"
    answered="$(field answered "${result}")"
    [[ "$(field ok "${result}")" == "${answered}" ]] || fail "not every call to ${url} was answered 2xx: ${result}"
    per_call() { awk -v t="$1" -v n="${answered}" -v hz="${hz}" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }'; }
    printf '%s %s %s %s %s %s\n' "$(field rps "${result}")" "$(field p50_us "${result}")" \
        "$(field p99_us "${result}")" "${answered}" \
        "$(per_call $(($(cpu_ticks "${server_pids[@]}") - before)))" \
        "$(per_call $(($(cpu_ticks "${lyrebird_pid}") - before_lyrebird)))"
    refresh_pids
}

declare -A cpu
printf '\n%-8s %-9s %10s %8s %8s %12s\n' "" "call" "requests/s" "p50 µs" "p99 µs" "CPU µs/call"
for round in $(seq "${ROUNDS}"); do
    for name in "${order[@]}"; do
        read -r rps p50 p99 _ us _ <<<"$(measure "${DURATION}" "${urls[${name}]}")"
        cpu[${name}]+="${us} "
        printf '%-8s %-9s %10s %8s %8s %12s\n' "round ${round}" "${name}" "${rps}" "${p50}" "${p99}" "${us}"
    done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
plain_us="$(median "${cpu[plain]}")"
for name in scenario record; do
    us="$(median "${cpu[${name}]}")"
    printf '%s: median %s µs of CPU per call against the plain example'"'"'s %s µs: %s (target <= 1.20)\n' \
        "${name}" "${us}" "${plain_us}" "$(awk -v a="${us}" -v b="${plain_us}" 'BEGIN { printf "%.2f", a / b }')"
done

printf '\n%-22s %10s %8s %8s %9s %12s %9s\n' "POST /todos" "requests/s" "p50 µs" "p99 µs" "answered" "CPU µs/call" "lyrebird"
for connections in "${CONNECTIONS}" 1; do
    if [[ -n "${PERF:-}" && "${connections}" == 1 ]]; then
        perf record -q -g -F 999 -p "${lyrebird_pid}" -o "${PERF}" 2>/dev/null &
        perf_pid=$!
    fi
    read -r rps p50 p99 answered us lyrebird_us <<<"$(CONNECTIONS="${connections}" measure 30 "${base}/m/${stateful}/todos" \
        -n "${REQUESTS}" -X POST -H 'content-type: application/json' \
        -H "x-lyrebird-state: bench-${connections}" --body '{"title": "a new task", "done": false}')"
    printf '%-22s %10s %8s %8s %9s %12s %9s\n' "${connections} connection(s)" "${rps}" "${p50}" "${p99}" "${answered}" "${us}" "${lyrebird_us}"
done
if [[ -n "${PERF:-}" ]]; then
    kill -INT "${perf_pid}" && wait "${perf_pid}" || true
    say "lyrebird during the POSTs of one connection: perf report -i ${PERF}"
fi
records="$(curl -sS -H 'x-lyrebird-state: bench-1' "${base}/m/${stateful}/todos?limit=1" -D - -o /dev/null |
    tr -d '\r' | sed -n 's/^x-total-count: //p')"
[[ "${records}" == $((100 + REQUESTS)) ]] || fail "the state bench-1 holds ${records} records, not $((100 + REQUESTS))"
say "every POST landed: the state bench-1 holds ${records} records"
