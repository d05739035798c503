#!/usr/bin/env bash
# Lyrebird against other mock servers (WireMock, Prism, Mockoon CLI): the same mock on each, loaded
# the same way, in the same run, on this machine's loopback only.
#
#   ./deploy/peerbench.sh                       # 10 s each after a 5 s warm-up, 64 connections
#   DURATION=30 CONNECTIONS=128 WARMUP=10 ./deploy/peerbench.sh
#   SKIP_BUILD=1 ./deploy/peerbench.sh          # use the release binaries already built
#
# 1. Builds release binaries (lyrebird, loadgen) and installs the peers with npm, at pinned
#    versions, into <target dir>/peerbench/<peer>/ when that version is not there yet. WireMock
#    comes from npm too: its package `wiremock` carries WireMock's standalone jar, which is run
#    with Java (installed with apt-get install default-jre-headless when missing, as root with
#    apt-get; otherwise WireMock is skipped).
# 2. Gives all four one JSON endpoint, GET /orders/{id}, answering the same static order
#    (about 300 bytes): Lyrebird one example without a template, WireMock one stub mapping
#    (urlPathPattern /orders/[^/]+) in the mappings/ of its --root-dir, loaded at start, Prism an
#    OpenAPI 3 document with that response as its example (static mode), Mockoon an environment
#    file with one route whose templating is off.
# 3. Runs each server in turn pinned to core 0, checks that /orders/42 answers 200, JSON, with
#    that body, warms it with a short load (WARMUP seconds; WireMock at least 15, WIREMOCK_WARMUP,
#    as its JIT compiler needs that long), then loads it from `loadgen` pinned to core 1.
#    Lyrebird is measured as shipped: call log and monthly quota on (LYREBIRD_MONTHLY_QUOTA set
#    high enough), with RUST_LOG keeping request lines off its console. The peers run with their
#    default settings, likewise without a console line per request where they can: WireMock
#    writes none unless --verbose, and keeps its request journal (its record of every call, as
#    Lyrebird's call log is) on as by default; Prism with --verboseLevel warn (at info its request
#    lines cost it about two thirds of its rate); Mockoon has no such setting and writes a JSON
#    line per request, sent to a file, and no log file of its own (-X, as in its container image).
#    Then `hello --answer` sends Lyrebird's answer (as `curl -si` read it) byte for byte and does
#    nothing else: the most any server sending that answer could do here, measured the same way.
# 4. Prints requests/s, p50, p99, server CPU per request and how busy the server kept core 0, for
#    each, and Lyrebird's ratio and its replay's to each peer (the budget is at least 10x their
#    requests per second; docs/performance.md, "Against other mock servers", has the figures).
# A peer that cannot be installed, started or does not answer as expected is skipped with the
# reason, and the script then exits non-zero: no figure is printed for it. Everything it starts
# is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
WARMUP="${WARMUP:-5}"
# WireMock 3 needs Java 11 or later (Debian 12's default-jre-headless is 17).
WIREMOCK_VERSION="${WIREMOCK_VERSION:-3.13.2}"
# A JVM answers slowly until its JIT has compiled the hot paths, and pinned to one core its
# compiler threads take that core from the server: WireMock's rate settles after about 15 s of
# load, so it is warmed that long at least.
WIREMOCK_WARMUP="${WIREMOCK_WARMUP:-$((WARMUP > 15 ? WARMUP : 15))}"
# Prism 5.15 and later need Node.js 24; 5.14.2 is the newest that runs on Debian's Node.js 20.
PRISM_VERSION="${PRISM_VERSION:-5.14.2}"
MOCKOON_VERSION="${MOCKOON_VERSION:-9.9.0}"
BENCH=peerbench
source deploy/bench-lib.sh

for tool in node npm; do
    command -v "${tool}" >/dev/null ||
        fail "${tool} is missing: the peers are installed with npm, Prism and Mockoon run on Node.js (Debian: apt-get install nodejs npm)"
done
say "Node.js $(node --version), npm $(npm --version 2>/dev/null)"
# WireMock runs on Java: installed when it can be (root with apt-get), else WireMock is skipped.
if ! command -v java >/dev/null && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "installing Java for WireMock (apt-get install default-jre-headless)"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null 2>&1 ||
        say "apt-get install default-jre-headless failed"
fi

cache="${target_dir}/peerbench"

# Tools that were not measured, with the reason; any makes the exit status non-zero.
skipped=()
skip() {
    say "skipping $1: $2"
    skipped+=("$1: $2")
}

# --- the mock every tool serves ---------------------------------------------------------------
order='{"id":"42","status":"shipped","placed_at":"2026-01-15T10:30:00Z",
  "customer":{"name":"Ada Lovelace","email":"ada@example.com"},
  "items":[{"sku":"A1","name":"Analytical engine gear","qty":2,"price":9.5},
           {"sku":"B2","name":"Punched card reader","qty":1,"price":80.5}],
  "shipping":{"method":"standard","city":"London","postcode":"W1 1AA"},
  "total":99.5,"currency":"EUR"}'
order="$(jq -c . <<<"${order}")"
expected="$(jq -cS . <<<"${order}")"
say "the order every tool answers: ${#order} bytes"

jq -n --argjson order "${order}" '{
  openapi: "3.0.3",
  info: {title: "peerbench", version: "1"},
  paths: {"/orders/{id}": {get: {
    operationId: "getOrder",
    parameters: [{name: "id", in: "path", required: true, schema: {type: "string"}}],
    responses: {"200": {description: "an order",
                        content: {"application/json": {example: $order}}}}
  }}}
}' >"${work}/prism.json"

# WireMock loads every file in <root dir>/mappings/ at start.
mkdir -p "${work}/wiremock/mappings"
jq -n --arg order "${order}" '{
  request: {method: "GET", urlPathPattern: "/orders/[^/]+"},
  response: {status: 200, headers: {"Content-Type": "application/json"}, body: $order}
}' >"${work}/wiremock/mappings/orders.json"

# Every field Mockoon's schema requires (its defaults), so it loads the file without repairing it.
jq -n --arg order "${order}" '{
  uuid: "6f1c6c1e-3f53-4f2b-9a55-1b1e7c1f0001", lastMigration: 33, name: "peerbench",
  endpointPrefix: "", latency: 0, port: 3000, hostname: "",
  folders: [], rootChildren: [{type: "route", uuid: "6f1c6c1e-3f53-4f2b-9a55-1b1e7c1f0002"}],
  proxyMode: false, proxyHost: "", proxyRemovePrefix: false,
  tlsOptions: {enabled: false, type: "CERT", pfxPath: "", certPath: "", keyPath: "", caPath: "",
               passphrase: ""},
  cors: true, headers: [], proxyReqHeaders: [], proxyResHeaders: [], data: [], callbacks: [],
  routes: [{
    uuid: "6f1c6c1e-3f53-4f2b-9a55-1b1e7c1f0002", type: "http", documentation: "",
    method: "get", endpoint: "orders/:id", responseMode: null, streamingMode: null,
    streamingInterval: 0,
    responses: [{
      uuid: "6f1c6c1e-3f53-4f2b-9a55-1b1e7c1f0003", body: $order, latency: 0, statusCode: 200,
      label: "an order", headers: [{key: "Content-Type", value: "application/json"}],
      bodyType: "INLINE", filePath: "", databucketID: "", sendFileAsBody: false, rules: [],
      rulesOperator: "OR", disableTemplating: true, fallbackTo404: false, default: true,
      crudKey: "id", callbacks: []
    }]
  }]
}' >"${work}/mockoon.json"

# --- helpers ----------------------------------------------------------------------------------

# Installs the npm package $2 at version $3 into ${cache}/$1 unless that version is there.
install_peer() {
    local name="$1" package="$2" version="$3" dir="${cache}/$1" installed
    installed="$(jq -r .version "${dir}/node_modules/${package}/package.json" 2>/dev/null || true)"
    [[ "${installed}" == "${version}" ]] && return 0
    say "installing ${package}@${version} into ${dir}"
    mkdir -p "${dir}"
    if ! npm install --prefix "${dir}" --no-audit --no-fund "${package}@${version}" \
        >"${work}/npm-${name}.log" 2>&1; then
        tail -n 20 "${work}/npm-${name}.log" >&2
        return 1
    fi
}

# A port nothing on loopback listens on, from $1 up.
free_port() {
    local port
    for port in $(seq "$1" $(($1 + 200))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
            echo "${port}"
            return 0
        fi
    done
    return 1
}

# Waits until `url` answers at all (up to 60 s) while process `pid` lives; fails otherwise.
wait_for_answer() {
    local url="$1" pid="$2"
    for _ in $(seq 600); do
        curl -s -o /dev/null --max-time 2 "${url}" && return 0
        kill -0 "${pid}" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Fails unless `url` answers 200, a JSON content type and the order (compared as JSON).
check_answer() {
    local url="$1" status type body
    status="$(curl -sS -o "${work}/body" -D "${work}/head" -w '%{http_code}' "${url}")" || return 1
    type="$(sed -n 's/^[Cc]ontent-[Tt]ype: *\([^;[:space:]]*\).*/\1/p' "${work}/head")"
    body="$(jq -cS . "${work}/body" 2>/dev/null || cat "${work}/body")"
    if [[ "${status}" != 200 || "${type}" != application/json || "${body}" != "${expected}" ]]; then
        say "GET ${url} answered ${status} ${type:-without a content type}: $(head -c 300 "${work}/body")"
        return 1
    fi
}

# Figures per measured tool, in the order measured.
measured=()
declare -A rps p50 p99 cpu_us core_use

# Checks `url`, warms it (for `warmup` seconds, WARMUP unless given), measures it; the server's
# CPU is that of the processes `server_pids` names (a command printing them, run right before the
# measured load).
measure() {
    local name="$1" url="$2" server_pids="$3" warmup="${4:-${WARMUP}}" result ticks pids_now answered
    if ! check_answer "${url}"; then
        skip "${name}" "did not answer GET /orders/42 with 200 and the order"
        return 0
    fi
    say "${name} answers ${url} with the order; warming up for ${warmup} s"
    if ! load "${warmup}" "${url}" >/dev/null; then
        skip "${name}" "the warm-up load failed"
        return 0
    fi
    check_answer "${url}" || { skip "${name}" "answered wrongly after the warm-up"; return 0; }
    read -r -a pids_now <<<"$(${server_pids} | tr '\n' ' ')"
    ticks="$(cpu_ticks "${pids_now[@]}")"
    result="$(load "${DURATION}" "${url}")" || { skip "${name}" "the load generator failed"; return 0; }
    ticks=$(($(cpu_ticks "${pids_now[@]}") - ticks))
    answered="$(field answered "${result}")"
    if [[ "${answered}" == 0 || "$(field ok "${result}")" != "${answered}" || "$(field failed "${result}")" != 0 ]]; then
        skip "${name}" "not every call under load was answered with 2xx (${result})"
        return 0
    fi
    measured+=("${name}")
    rps["${name}"]="$(field rps "${result}")"
    p50["${name}"]="$(field p50_us "${result}")"
    p99["${name}"]="$(field p99_us "${result}")"
    cpu_us["${name}"]="$(awk -v t="${ticks}" -v n="${answered}" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.1f", t / hz / n * 1e6 }')"
    core_use["${name}"]="$(awk -v t="${ticks}" -v s="$(field seconds "${result}")" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f%%", t / hz / s * 100 }')"
}

# Stops server `pid` and waits for it to exit.
stop() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# --- Lyrebird ---------------------------------------------------------------------------------
start_lyrebird
mock="$(api POST /api/v1/mocks '{"name":"peer benchmark"}' | jq -r .id)"
api PUT "/api/v1/mocks/${mock}/examples" "$(jq -n --argjson order "${order}" '[{
    name: "get an order",
    request: {method: "GET", path: "/orders/:id"},
    response: {status: 200, body: $order}
}]')" >/dev/null
# The server and, when embedded, its PostgreSQL (postmaster and backends).
lyrebird_pids() {
    echo "${lyrebird_pid}"
    if [[ -z "${DATABASE_URL:-}" ]]; then
        process_tree "$(head -n 1 "${work}/data/postgres/postmaster.pid")"
    fi
}
measure Lyrebird "${base}/m/${mock}/orders/42" lyrebird_pids
curl -sS -i --fail-with-body "${base}/m/${mock}/orders/42" >"${work}/lyrebird.http"
stop "${lyrebird_pid}"

# --- Lyrebird's replay ------------------------------------------------------------------------
# A server that sends Lyrebird's answer, byte for byte, and does nothing else (`hello --answer`):
# the most any server sending that answer could do here.
replay="Lyrebird's bytes"
start_hello --answer "${work}/lyrebird.http"
replay_pids() { echo "${hello_pid}"; }
measure "${replay}" "http://${hello_address}/orders/42" replay_pids
stop "${hello_pid}"

# --- the peers --------------------------------------------------------------------------------
# The peer's server process (node or java, exec'd by taskset and env) and anything it forks.
peer_pids() { process_tree "${peer_pid}"; }

# Starts a peer on the server core (the command after its name, its label, its log file and its
# warm-up in seconds) on `port`, measures it once it answers, and stops it.
run_peer() {
    local name="$1" label="$2" log="$3" warmup="$4"
    shift 4
    "${server_cpu[@]}" "$@" >"${log}" 2>&1 &
    peer_pid=$!
    pids+=("${peer_pid}")
    if wait_for_answer "http://127.0.0.1:${port}/orders/42" "${peer_pid}"; then
        measure "${label}" "http://127.0.0.1:${port}/orders/42" peer_pids "${warmup}"
    else
        tail -n 20 "${log}" >&2
        skip "${name}" "did not start"
    fi
    stop "${peer_pid}"
}

# --- WireMock ---------------------------------------------------------------------------------
# The npm package carries the standalone jar and a Node.js launcher that spawns `java -jar` on it;
# the jar is run directly, so the measured process is WireMock's JVM alone and stops with it.
wiremock_jar="${cache}/wiremock/node_modules/wiremock/build/wiremock-standalone-${WIREMOCK_VERSION}.jar"
if ! command -v java >/dev/null; then
    skip WireMock "java is missing: WireMock runs on Java 11 or later (Debian: apt-get install default-jre-headless)"
elif ! install_peer wiremock wiremock "${WIREMOCK_VERSION}" || [[ ! -f "${wiremock_jar}" ]]; then
    skip WireMock "npm could not install wiremock@${WIREMOCK_VERSION} (with its standalone jar)"
elif ! port="$(free_port 8090)"; then
    skip WireMock "no free port on loopback"
else
    wiremock_version="$(java -jar "${wiremock_jar}" --version 2>/dev/null | tail -n 1 || true)"
    say "WireMock ${wiremock_version:-unknown} on 127.0.0.1:${port}, $(java -version 2>&1 | head -n 1)"
    # Its defaults (default heap; the JVM picks the serial collector on one core), loopback only,
    # no banner, with two exceptions. The request journal stays on, as by default: its record of
    # every call, kept in memory without a limit, as Lyrebird keeps its call log (off, with
    # --no-request-journal, WireMock spent a third to two fifths less CPU per call in short side
    # runs on a busy machine). And --use-chunked-encoding never, for a Content-Length as the
    # others send: by default WireMock sends every body chunked, which loadgen does not read. It
    # writes no line per request without --verbose (--disable-request-logging, "useful when
    # performance testing", changed nothing measurable in side runs, so it is left off).
    run_peer WireMock "WireMock ${wiremock_version:-${WIREMOCK_VERSION}}" "${work}/wiremock.log" \
        "${WIREMOCK_WARMUP}" \
        java -jar "${wiremock_jar}" --bind-address 127.0.0.1 --port "${port}" \
        --root-dir "${work}/wiremock" --disable-banner --use-chunked-encoding never
fi

# --- Prism ------------------------------------------------------------------------------------
if ! install_peer prism @stoplight/prism-cli "${PRISM_VERSION}"; then
    skip Prism "npm could not install @stoplight/prism-cli@${PRISM_VERSION}"
elif ! port="$(free_port 4010)"; then
    skip Prism "no free port on loopback"
else
    prism_version="$("${cache}/prism/node_modules/.bin/prism" --version 2>/dev/null || echo unknown)"
    say "Prism ${prism_version} on 127.0.0.1:${port}"
    run_peer Prism "Prism ${prism_version}" "${work}/prism.log" "${WARMUP}" \
        "${cache}/prism/node_modules/.bin/prism" mock -h 127.0.0.1 -p "${port}" \
        --verboseLevel warn "${work}/prism.json"
fi

# --- Mockoon CLI ------------------------------------------------------------------------------
if ! install_peer mockoon @mockoon/cli "${MOCKOON_VERSION}"; then
    skip Mockoon "npm could not install @mockoon/cli@${MOCKOON_VERSION}"
elif ! port="$(free_port 3010)"; then
    skip Mockoon "no free port on loopback"
else
    mockoon_version="$(jq -r .version "${cache}/mockoon/node_modules/@mockoon/cli/package.json")"
    say "Mockoon CLI ${mockoon_version} on 127.0.0.1:${port}"
    # Its log goes to standard output only (-X, as in its container image), and its home, where
    # it would keep files, is the work directory.
    run_peer Mockoon "Mockoon ${mockoon_version}" "${work}/mockoon.log" "${WARMUP}" \
        env HOME="${work}" "${cache}/mockoon/node_modules/.bin/mockoon-cli" start \
        --data "${work}/mockoon.json" --hostname 127.0.0.1 --port "${port}" -X
fi

# --- the figures ------------------------------------------------------------------------------
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
row() { printf '%-16s %12s %10s %10s %16s %12s\n' "$@"; }
printf '\n'
row "" requests/s "p50 µs" "p99 µs" "CPU µs/request" "core 0 busy"
for name in "${measured[@]}"; do
    row "${name}" "${rps[${name}]}" "${p50[${name}]}" "${p99[${name}]}" "${cpu_us[${name}]}" \
        "${core_use[${name}]}"
done
# The ratios of `$1` (Lyrebird, or its replay) to every other measured server.
ratios() {
    local ours="$1" name
    [[ -n "${rps[${ours}]:-}" ]] || return 0
    for name in "${measured[@]}"; do
        [[ "${name}" == Lyrebird || "${name}" == "${replay}" ]] && continue
        awk -v l="${rps[${ours}]}" -v p="${rps[${name}]}" -v lc="${cpu_us[${ours}]}" \
            -v pc="${cpu_us[${name}]}" -v ours="${ours}" -v name="${name}" 'BEGIN {
                printf "ratio %s / %s: %.1fx requests/s (target for Lyrebird >= 10), %.1fx less CPU per request\n",
                    ours, name, l / p, pc / lc
            }'
    done
}
ratios Lyrebird
ratios "${replay}"
if [[ "${#skipped[@]}" -gt 0 ]]; then
    printf 'not measured: %s\n' "${skipped[@]}"
    exit 1
fi
