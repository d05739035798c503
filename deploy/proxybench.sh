#!/usr/bin/env bash
# The pass-through benchmark (docs/performance.md, "Pass-through"): what a call passed through a
# mock to its upstream costs over the same call made to the upstream directly, on this machine's
# loopback only.
#
#   ./deploy/proxybench.sh                  # 5 rounds of 6 s each, 64 connections
#   SKIP_BUILD=1 ROUNDS=3 ./deploy/proxybench.sh
#
# 1. Builds release binaries; starts the bare hello-world (`hello`) as the upstream and
#    `lyrebird serve` (call log and monthly quota on; LYREBIRD_CALLBACK_ALLOW=127.0.0.1, so that
#    an upstream on loopback is allowed), both pinned to core 0, and a mock without examples
#    whose upstream is the hello-world: every call to it passes through.
# 2. In each round, loads the hello-world directly, then through the mock, from `loadgen` on
#    core 1, and prints both rates and latencies; at the end, the CPU per call of the
#    hello-world and of lyrebird (with its PostgreSQL) over all rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-6}"
ROUNDS="${ROUNDS:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
BENCH=proxybench
source deploy/bench-lib.sh

start_hello

export LYREBIRD_CALLBACK_ALLOW=127.0.0.1
start_lyrebird
mock="$(api POST /api/v1/mocks "$(jq -n --arg url "http://${hello_address}" \
    '{name: "pass-through", upstream: {url: $url}}')" | jq -r .id)"
direct="http://${hello_address}/"
through="${base}/m/${mock}/"
answer="$(curl -sS --fail-with-body "${through}")"
[[ "${answer}" == "Hello, World!" ]] || fail "the mock answered ${answer}"
say "upstream ${direct}, through the mock ${through}"

postmaster="$(head -n 1 "${work}/data/postgres/postmaster.pid")"
lyrebird_pids() { echo "${lyrebird_pid}"; process_tree "${postmaster}"; }
mapfile -t server_pids < <(lyrebird_pids)
server_pids+=("${hello_pid}")

rounds=()
direct_ticks=0 direct_answered=0 hello_ticks=0 lyrebird_ticks=0 through_answered=0
for round in $(seq "${ROUNDS}"); do
    settle
    before="$(cpu_ticks "${hello_pid}")"
    direct_result="$(load "${DURATION}" "${direct}")"
    direct_ticks=$((direct_ticks + $(cpu_ticks "${hello_pid}") - before))
    direct_answered=$((direct_answered + $(field answered "${direct_result}")))

    settle
    mapfile -t ours < <(lyrebird_pids)
    before="$(cpu_ticks "${hello_pid}")"
    before_ours="$(cpu_ticks "${ours[@]}")"
    through_result="$(load "${DURATION}" "${through}")"
    hello_ticks=$((hello_ticks + $(cpu_ticks "${hello_pid}") - before))
    lyrebird_ticks=$((lyrebird_ticks + $(cpu_ticks "${ours[@]}") - before_ours))
    [[ "$(field ok "${through_result}")" == "$(field answered "${through_result}")" ]] ||
        fail "a call through the mock was not answered with 2xx"
    through_answered=$((through_answered + $(field answered "${through_result}")))
    rounds+=("$(field rps "${direct_result}") $(field p50_us "${direct_result}") $(field p99_us "${direct_result}") $(field rps "${through_result}") $(field p50_us "${through_result}") $(field p99_us "${through_result}")")
    say "round ${round}: directly ${rounds[-1]%% *} requests/s, through the mock $(field rps "${through_result}") requests/s"
done

printf '\n%-7s %12s %8s %8s %12s %8s %8s\n' "" "directly" "p50 µs" "p99 µs" "through" "p50 µs" "p99 µs"
for round in "${!rounds[@]}"; do
    # shellcheck disable=SC2086 # the fields of one round, split on purpose
    printf '%-7s %12s %8s %8s %12s %8s %8s\n' "round $((round + 1))" ${rounds[${round}]}
done
printf '%s\n' "${rounds[@]}" | awk '{ d += $2; t += $5; n++ } END {
    printf "p50 added by passing through, the mean of the rounds: %.0f µs\n", (t - d) / n }'
awk -v dt="${direct_ticks}" -v dn="${direct_answered}" -v ht="${hello_ticks}" -v lt="${lyrebird_ticks}" \
    -v tn="${through_answered}" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    printf "CPU per call: the upstream directly %.1f µs; through the mock, the upstream %.1f µs and lyrebird (with its PostgreSQL) %.1f µs\n",
        dt / hz / dn * 1e6, ht / hz / tn * 1e6, lt / hz / tn * 1e6 }'
