#!/usr/bin/env bash
# Lyrebird's one test command: checks the formatting and clippy's lints, builds everything,
# refuses warnings, and runs every test of the workspace against a real PostgreSQL, then the
# browser tests (web/tests) in headless Chromium.
#
#   ./deploy/test.sh                 # everything
#   ./deploy/test.sh -E 'test(isolation)'   # extra arguments go to cargo nextest (or cargo test)
#
# Without DATABASE_URL the tests start a throwaway PostgreSQL cluster of their own (one for the
# whole run, in $TMPDIR/lyrebird-test-postgres) from the machine's PostgreSQL server programs;
# this script installs those when it can (root with apt-get) and otherwise names the package.
# With DATABASE_URL the tests create their databases on that server instead (the tests of the
# embedded cluster itself still need the programs).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test.sh: %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null; then
    say "Rust is missing: install it from https://rustup.rs, then run this again"
    exit 1
fi

have_postgres() {
    local dir
    for dir in $(printf '%s' "${PATH}" | tr ':' ' ') "${LYREBIRD_PG_SEARCH_DIR:-/usr/lib/postgresql}"/*/bin; do
        if [[ -x "${dir}/initdb" && -x "${dir}/pg_ctl" && -x "${dir}/postgres" ]]; then
            return 0
        fi
    done
    return 1
}

if ! have_postgres; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        say "installing the PostgreSQL server programs (apt-get install postgresql)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        say "PostgreSQL server programs (initdb, pg_ctl, postgres) are missing: install them"
        say "(Debian/Ubuntu: sudo apt-get install postgresql; Fedora: sudo dnf install postgresql-server;"
        say " macOS: brew install postgresql), then run this again"
        exit 1
    fi
fi

# The guides' worked examples run as written, with curl and jq.
for tool in curl jq; do
    if ! command -v "${tool}" >/dev/null; then
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
            say "installing ${tool} for the guides' worked examples (apt-get install ${tool})"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool}" >/dev/null
        else
            say "${tool} is missing for the guides' worked examples: install it"
            say "(Debian/Ubuntu: sudo apt-get install ${tool}; macOS: brew install ${tool}), then run this again"
            exit 1
        fi
    fi
done

# Three replicas behind a real load balancer (crates/lyrebird-server/tests/binary/replicas.rs):
# HAProxy from the distribution, configured by deploy/haproxy/haproxy.cfg.
if ! command -v haproxy >/dev/null && [[ ! -x /usr/sbin/haproxy ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        say "installing HAProxy for the replicas test (apt-get install haproxy)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
        # The package starts a service of its own; the test runs its own HAProxy.
        if command -v systemctl >/dev/null; then systemctl disable --now haproxy >/dev/null 2>&1 || true; fi
    else
        say "HAProxy is missing for the replicas test: install it"
        say "(Debian/Ubuntu: sudo apt-get install haproxy; macOS: brew install haproxy), then run this again"
        exit 1
    fi
fi

# The browser tests (web/tests) drive Debian's Chromium with playwright-core from npm; they never
# download a browser of their own.
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "${chromium}" ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        say "installing Chromium for the browser tests (apt-get install chromium)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        say "Chromium (${chromium}) is missing for the browser tests: install it"
        say "(Debian: sudo apt-get install chromium), or set CHROMIUM to its path, then run this again"
        exit 1
    fi
fi
if ! command -v npm >/dev/null; then
    say "Node.js and npm are missing for the browser tests: install Node.js 20 or later"
    exit 1
fi

# Schemathesis checks the served OpenAPI document against the running server
# (crates/lyrebird-server/tests/schemathesis.rs): the pinned version, in a venv of its own under
# target/, made again only when missing or of another version.
schemathesis_version="4.32.5"
schemathesis_venv="$(realpath -m "${CARGO_TARGET_DIR:-target}")/schemathesis-venv"
if ! command -v python3 >/dev/null; then
    say "python3 (with its venv module) is missing for Schemathesis: install it"
    say "(Debian/Ubuntu: sudo apt-get install python3-venv), then run this again"
    exit 1
fi
if [[ "$("${schemathesis_venv}/bin/schemathesis" --version 2>/dev/null)" != *" ${schemathesis_version}" ]]; then
    say "installing Schemathesis ${schemathesis_version} into ${schemathesis_venv}"
    rm -rf "${schemathesis_venv}"
    python3 -m venv "${schemathesis_venv}"
    "${schemathesis_venv}/bin/pip" install --quiet "schemathesis==${schemathesis_version}"
fi
export LYREBIRD_SCHEMATHESIS="${schemathesis_venv}/bin/schemathesis"

# The tests' shared cluster: start each run from a clean one, and stop it at the end.
test_cluster="${LYREBIRD_TEST_PG_DIR:-${TMPDIR:-/tmp}/lyrebird-test-postgres}"
stop_test_cluster() {
    local pid_file="${test_cluster}/postgres/postmaster.pid" pid
    [[ -f "${pid_file}" ]] || return 0
    pid="$(head -n 1 "${pid_file}")"
    kill -INT "${pid}" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "${pid}" 2>/dev/null || return 0
        sleep 0.1
    done
}
if [[ -z "${DATABASE_URL:-}" ]]; then
    stop_test_cluster
    rm -rf "${test_cluster}"
    trap stop_test_cluster EXIT
fi

# The code as the project writes it: formatted, and without a lint clippy finds.
if ! cargo fmt --all -- --check; then
    say "the code is not formatted as cargo fmt writes it (the differences are above): run cargo fmt"
    exit 1
fi
cargo clippy --workspace --all-targets -- -D warnings

# Build first, and refuse warnings (cargo replays those of crates it does not rebuild).
build_log="$(mktemp)"
cargo test --workspace --all-targets --no-run 2>&1 | tee "${build_log}"
if grep -q '^warning' "${build_log}"; then
    rm -f "${build_log}"
    say "the build has warnings (shown above): fix them"
    exit 1
fi
rm -f "${build_log}"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --all-targets --no-fail-fast "$@"
else
    cargo test --workspace --all-targets --no-fail-fast "$@"
fi
cargo test --workspace --doc

# The browser tests, against the lyrebird binary built above; Node's runner ends with
# `# pass N` and `# fail N`, and its exit status is this script's.
lyrebird_bin="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/lyrebird"
cd web/tests
npm ci --no-audit --no-fund --loglevel=error
CHROMIUM="${chromium}" LYREBIRD_BIN="${lyrebird_bin}" node --test --test-reporter=tap
