//! The call log's text search on a large log (docs/performance.md, "Call-log search").
//!
//! Logs `CALLS` calls (default 5,000,000) to one mock through the store, in blocks of 1,000 as
//! the call-log writer makes them, and measures what writing them cost (the writer's, into
//! blocks; the inserts; PostgreSQL's CPU time) and the bytes stored per call. Three of the
//! calls carry a rare email address in their request body; the benchmark then times searches:
//! the rare text (first page, and every page until the last), text in every call, text of two
//! characters (read, not looked up), and text of every request looked for in the responses. The
//! rare text is looked for once more first, before the table's statistics are brought up to
//! date (`ANALYZE`, which autovacuum runs within a minute of a burst of writes).
//!
//! Runs on the tests' throwaway PostgreSQL cluster (`LYREBIRD_TEST_PG_DIR`, or `DATABASE_URL`),
//! in a database of its own that is dropped at the end:
//!
//! ```sh
//! cargo bench -p lyrebird-store --bench call_search
//! ```

use std::time::{Duration, Instant};

use lyrebird_store::calls::{CallBlocks, CallFilter, NewCall, StoredBody, TextScope};
use lyrebird_store::testing::{self, TestDatabase};
use lyrebird_store::{MockId, Store, Workspace, WorkspaceId};
use time::OffsetDateTime;

/// Calls per block: the writer's batch.
const BATCH: usize = 1000;
/// The rare text, in the request body of three calls.
const RARE: &str = "zelda.quux@example.org";

#[tokio::main]
async fn main() {
    // `cargo bench` runs this with --bench; the test runners (`cargo test --all-targets`,
    // nextest listing tests with --list) run it without, and it is a measurement, not a test.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(5_000_000);
    let db = TestDatabase::new().await;
    let store = db.store();
    let owner = db.sign_up("bench@example.com").await;
    let mock = db.mock(&owner).await;
    let workspace = owner.workspace.id();
    let rare_at = [calls / 10, calls / 2, calls * 9 / 10];

    let postgres = Postgres::of(store).await;
    let start = OffsetDateTime::now_utc() - Duration::from_millis(calls as u64);
    let cpu_before = postgres.cpu();
    let (mut writing, mut inserting) = (Duration::ZERO, Duration::ZERO);
    let mut random = Random(0x5eed);
    for batch in 0..calls.div_ceil(BATCH) {
        let first = batch * BATCH;
        let made: Vec<NewCall> = (first..calls.min(first + BATCH))
            .map(|n| {
                let mut call = synthetic(&mut random, n, rare_at.contains(&n));
                call.workspace_id = workspace;
                call.mock_id = mock;
                call.at = start + Duration::from_millis(n as u64);
                call
            })
            .collect();
        let clock = Instant::now();
        let mut blocks = CallBlocks::default();
        for call in made {
            blocks.push(call).expect("the call encodes");
        }
        writing += clock.elapsed();
        let clock = Instant::now();
        store
            .insert_calls(&blocks, &[])
            .await
            .expect("inserting calls");
        inserting += clock.elapsed();
    }
    let cpu = postgres.cpu() - cpu_before;
    let per_call = |total: Duration| total.as_secs_f64() * 1e6 / calls as f64;
    println!("{calls} calls logged in blocks of {BATCH}, per call:");
    println!(
        "  writing into blocks (with the text index): {:.2} µs",
        per_call(writing)
    );
    println!(
        "  inserting (LZ4 and the round trips): {:.2} µs",
        per_call(inserting)
    );
    println!("  PostgreSQL's CPU: {:.2} µs", per_call(cpu));
    storage(store, calls).await;

    let search = |text: &str, text_in: TextScope| CallFilter {
        text: Some(text.to_owned()),
        text_in,
        ..CallFilter::default()
    };
    let rare = search(RARE.split('@').next().expect("a name"), TextScope::Anywhere);
    // Right after a burst of writes the planner's statistics still count the mock's blocks as
    // none, until autovacuum analyzes the table (within a minute); measured as it is, then
    // with them.
    search_all(
        store,
        &owner.workspace,
        mock,
        &rare,
        "rare text, before ANALYZE",
        true,
    )
    .await;
    sqlx::query("ANALYZE call_blocks")
        .execute(store.pool())
        .await
        .expect("analyzing");
    for (name, filter) in [
        ("rare text", &rare),
        (
            "text of the requests only, q_in=response",
            &search("shop-app", TextScope::Response),
        ),
        (
            "text in every call",
            &search("application/json", TextScope::Anywhere),
        ),
        ("text of two characters", &search("zq", TextScope::Anywhere)),
    ] {
        // The second run, with the blocks in PostgreSQL's cache, is the one reported.
        search_all(store, &owner.workspace, mock, filter, name, false).await;
        search_all(store, &owner.workspace, mock, filter, name, true).await;
    }
    if std::env::var_os("KEEP").is_some() {
        println!(
            "kept database {:?} mock {mock}",
            store.pool().connect_options().get_database()
        );
        std::mem::forget(db);
    }
}

/// Pages through a search (at most 3 pages of a filter that keeps many) and prints the times.
async fn search_all(
    store: &Store,
    workspace: &Workspace,
    mock: MockId,
    filter: &CallFilter,
    name: &str,
    report: bool,
) {
    let clock = Instant::now();
    let mut first = None;
    let (mut pages, mut found) = (0, 0);
    let mut after = None;
    loop {
        let page = store
            .list_calls(workspace, mock, filter, after, 50)
            .await
            .expect("searching");
        pages += 1;
        found += page.calls.len();
        first.get_or_insert(clock.elapsed());
        after = page.next;
        if after.is_none() || (found > 0 && pages == 3) {
            break;
        }
    }
    if report {
        println!(
            "{name}: first page {:.1} ms; {found} calls found in {pages} pages, {:.1} ms",
            first.expect("a page").as_secs_f64() * 1e3,
            clock.elapsed().as_secs_f64() * 1e3,
        );
    }
}

/// Bytes stored per call: the blocks' partitions with their TOAST and indexes.
async fn storage(store: &Store, calls: usize) {
    let (table, indexes, compressed): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT sum(pg_table_size(inhrelid))::bigint FROM pg_inherits \
                 WHERE inhparent = 'call_blocks'::regclass), \
                (SELECT sum(pg_indexes_size(inhrelid))::bigint FROM pg_inherits \
                 WHERE inhparent = 'call_blocks'::regclass), \
                (SELECT sum(length(calls))::bigint FROM call_blocks)",
    )
    .fetch_one(store.pool())
    .await
    .expect("sizes");
    let per_call = |bytes: i64| bytes as f64 / calls as f64;
    println!(
        "bytes per call: {:.1} in all: tables {:.1} (the calls themselves {:.1}), indexes {:.1}",
        per_call(table + indexes),
        per_call(table),
        per_call(compressed),
        per_call(indexes),
    );
    let indexed: Option<(i64, i64)> = sqlx::query_as(
        "SELECT sum(pg_column_size(trigrams))::bigint, \
             (SELECT sum(pg_relation_size(indexrelid))::bigint FROM pg_index i \
              JOIN pg_class c ON c.oid = i.indexrelid \
              WHERE c.relname LIKE 'call_blocks%trigrams_idx') \
         FROM call_blocks",
    )
    .fetch_optional(store.pool())
    .await
    .ok()
    .flatten();
    if let Some((trigrams, index)) = indexed {
        println!(
            "  of which the trigram sets {:.1} and their GIN index {:.1}",
            per_call(trigrams),
            per_call(index)
        );
    }
}

/// A call like the load benchmark's: a JSON API's order, with a request id and a customer.
fn synthetic(random: &mut Random, n: usize, rare: bool) -> NewCall {
    const NAMES: [&str; 8] = [
        "ada", "grace", "alan", "edsger", "barbara", "donald", "frances", "ken",
    ];
    let name = NAMES[random.below(NAMES.len())];
    let customer = random.below(10_000);
    let email = if rare {
        RARE.to_owned()
    } else {
        format!("{name}.{customer}@example.com")
    };
    let order = random.below(1_000_000);
    let post = n.is_multiple_of(4);
    let body = |text: String| StoredBody {
        size: text.len() as u64,
        text,
        base64: false,
    };
    let request_body = if post {
        format!(
            "{{\"customer\":\"{email}\",\"items\":[{{\"sku\":\"SKU-{}\",\"qty\":{}}}]}}",
            random.below(500),
            1 + random.below(5)
        )
    } else {
        String::new()
    };
    let response = format!(
        "{{\"id\":{order},\"url\":\"https://api.example.com/orders/{order}\",\"status\":\"{}\",\
         \"created\":\"2026-11-21T12:{:02}:{:02}.{:03}Z\",\"customer\":{{\"id\":{customer},\
         \"name\":\"{name}\",\"email\":\"{email}\"}},\"items\":[{{\"sku\":\"SKU-{}\",\"qty\":{},\
         \"price\":{}.{:02}}},{{\"sku\":\"SKU-{}\",\"qty\":1,\"price\":9.99}}],\"total\":{}.{:02}}}",
        ["paid", "shipped", "pending"][random.below(3)],
        random.below(60),
        random.below(60),
        random.below(1000),
        random.below(500),
        1 + random.below(5),
        random.below(100),
        random.below(100),
        random.below(500),
        random.below(1000),
        random.below(100),
    );
    let header = |name: &'static str, value: String| (name.into(), value.into());
    NewCall {
        method: if post { "POST" } else { "GET" }.into(),
        path: if post {
            "/orders".into()
        } else {
            format!("/orders/{order}")
        },
        query: if n.is_multiple_of(3) {
            "expand=items".into()
        } else {
            String::new()
        },
        request_headers: vec![
            header("host", "api.example.com".into()),
            header("user-agent", "shop-app/4.2 (okhttp)".into()),
            header("accept", "application/json".into()),
            header("x-request-id", format!("{:016x}", random.next())),
        ],
        request_body: body(request_body),
        status: if post { 201 } else { 200 },
        response_headers: vec![
            header("content-type", "application/json".into()),
            header("content-length", response.len().to_string()),
            header("access-control-allow-origin", "*".into()),
            header("access-control-expose-headers", "*".into()),
            header("x-lyrebird-example", "get an order".into()),
            header("x-ratelimit-limit", "1000".into()),
            header("x-ratelimit-remaining", random.below(1000).to_string()),
            header("cache-control", "no-store".into()),
            header("vary", "origin".into()),
        ],
        response_body: body(response),
        latency_us: 100 + random.below(900) as u64,
        ..testing::call(
            WorkspaceId::generate(),
            MockId::generate(),
            OffsetDateTime::UNIX_EPOCH,
        )
    }
}

/// xorshift64*: calls that vary like real ones, the same in every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// The CPU time of the PostgreSQL cluster the store is connected to (its postmaster and every
/// process it started, those that ended included), from `/proc`.
struct Postgres {
    postmaster: u32,
}

impl Postgres {
    async fn of(store: &Store) -> Self {
        let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(store.pool())
            .await
            .expect("the backend's pid");
        let postmaster = stat(backend as u32).expect("the backend's /proc entry")[1]
            .parse()
            .expect("a parent pid");
        Self { postmaster }
    }

    fn cpu(&self) -> Duration {
        let ticks = |fields: &[String], from: usize, to: usize| -> u64 {
            fields[from..to]
                .iter()
                .map(|field| field.parse::<u64>().unwrap_or(0))
                .sum()
        };
        // Fields after the command: state is 0, ppid 1, utime 11, stime 12, cutime 13, cstime 14.
        let mut total = stat(self.postmaster).map_or(0, |fields| ticks(&fields, 11, 15));
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|pid| pid.parse().ok()) else {
                continue;
            };
            if let Some(fields) = stat(pid)
                && fields[1] == self.postmaster.to_string()
            {
                total += ticks(&fields, 11, 13);
            }
        }
        // The kernel counts in clock ticks of 1/100 s on Linux.
        Duration::from_millis(total * 10)
    }
}

/// The fields of `/proc/<pid>/stat` after the command's closing parenthesis.
fn stat(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}
