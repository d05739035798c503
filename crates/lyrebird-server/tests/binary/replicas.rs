//! Three replicas on one PostgreSQL behind a real HAProxy, configured by
//! `deploy/haproxy/haproxy.cfg` as it ships, under a steady load through the balancer: one
//! replica stopped with SIGTERM and another killed with SIGKILL, each started again; a workspace
//! at its quota; then the database stopped for 20 s. What the clients saw is compared with the
//! call log, a live tail on one replica, the usage and every replica's metrics.

use super::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use lyrebird_store::testing::OwnCluster;
use reqwest::Method;

use super::support::{example, json_of};

const METRICS_TOKEN: &str = "replicas-test-metrics";

/// The replicas, by the names the balancer gives them (`X-Lyrebird-Replica`).
const NAMES: [&str; 3] = ["replica1", "replica2", "replica3"];

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the replica listening on `port`, as the balancer expects it.
fn start_replica(port: u16, database_url: &str) -> Server {
    Server::start_listening(
        &format!("127.0.0.1:{port}"),
        &[
            ("DATABASE_URL", database_url),
            ("LYREBIRD_TRUSTED_PROXIES", "127.0.0.1"),
            ("LYREBIRD_METRICS_TOKEN", METRICS_TOKEN),
            ("LYREBIRD_MONTHLY_QUOTA", "100000000"),
            // Through an outage a replica admits the calls left of its lease, at least a quarter
            // of it: at about 250 calls a second each, 20 s need 5,000 (docs/serving.md).
            ("LYREBIRD_QUOTA_LEASE", "20000"),
        ],
    )
}

/// HAProxy running `deploy/haproxy/haproxy.cfg` in front of the replicas' ports.
struct Balancer {
    child: Child,
    base: String,
}

impl Balancer {
    fn start(replicas: &[u16; 3]) -> Self {
        let program = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .unwrap_or("haproxy");
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/haproxy/haproxy.cfg");
        let port = free_port();
        let mut command = Command::new(program);
        command
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .env("LYREBIRD_LB_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null());
        for (number, replica) in replicas.iter().enumerate() {
            command.env(
                format!("LYREBIRD_REPLICA_{}", number + 1),
                format!("127.0.0.1:{replica}"),
            );
        }
        let child = command.spawn().unwrap_or_else(|error| {
            panic!(
                "HAProxy ({program}) could not be started: {error}. The replicas test runs three \
                 servers behind it: install it (Debian/Ubuntu: apt-get install haproxy; \
                 deploy/test.sh does when it runs as root)"
            )
        });
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until the balancer sends requests to every replica.
    async fn wait_for_every_replica(&self, client: &reqwest::Client) {
        let started = Instant::now();
        let mut seen = BTreeSet::new();
        while seen.len() < NAMES.len() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the balancer reached only {seen:?}"
            );
            if let Ok(answer) = client.get(format!("{}/healthz", self.base)).send().await
                && let Some(replica) = answer.headers().get("x-lyrebird-replica")
            {
                seen.insert(replica.to_str().unwrap().to_owned());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call as a client of the balancer saw it.
#[derive(Debug)]
struct Sent {
    n: u64,
    /// The status, the replica that answered (the balancer's own errors name none) and the
    /// error's code of an answer other than 200, or why the request failed.
    answer: Result<(StatusCode, Option<String>, String), String>,
    at: Instant,
}

impl Sent {
    fn answered_by(&self) -> Option<&str> {
        match &self.answer {
            Ok((StatusCode::OK, Some(replica), _)) => Some(replica),
            _ => None,
        }
    }
}

/// A steady load through the balancer: `workers` clients each calling `<url><n>` one call after
/// another with a short pause, `n` counting up across them from `first`, until stopped or `n`
/// reaches `last`.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Vec<Sent>>>,
}

impl Load {
    fn start(client: &reqwest::Client, url: &str, numbers: std::ops::Range<u64>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(numbers.start));
        let workers = (0..4)
            .map(|_| {
                let (client, url, stop, next) =
                    (client.clone(), url.to_owned(), stop.clone(), next.clone());
                let last = numbers.end;
                tokio::spawn(async move {
                    let mut sent = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= last {
                            break;
                        }
                        let answer = match client
                            .get(format!("{url}{n}"))
                            .timeout(Duration::from_secs(30))
                            .send()
                            .await
                        {
                            Ok(response) => {
                                let replica = response
                                    .headers()
                                    .get("x-lyrebird-replica")
                                    .map(|name| name.to_str().unwrap().to_owned());
                                let (status, body) = json_of(response).await;
                                let code = body["error"]["code"].as_str().unwrap_or_default();
                                Ok((status, replica, code.to_owned()))
                            }
                            Err(error) => Err(format!("{error:?}")),
                        };
                        sent.push(Sent {
                            n,
                            answer,
                            at: Instant::now(),
                        });
                        tokio::time::sleep(Duration::from_millis(4)).await;
                    }
                    sent
                })
            })
            .collect();
        Self { stop, workers }
    }

    /// Stops it, and what every call got, in the order of `n`.
    async fn finish(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        self.completed().await
    }

    /// What every call got once the last number is sent, in the order of `n`.
    async fn completed(self) -> Vec<Sent> {
        let mut sent = Vec::new();
        for worker in self.workers {
            sent.extend(worker.await.unwrap());
        }
        sent.sort_by_key(|call| call.n);
        sent
    }
}

/// How many calls got each answer other than a 200: status and code, or the error.
fn failures<'a>(sent: impl IntoIterator<Item = &'a Sent>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for call in sent.into_iter().filter(|call| call.answered_by().is_none()) {
        let failure = match &call.answer {
            Ok((status, _, code)) => format!("{status} {code}"),
            Err(error) => error.clone(),
        };
        *counts.entry(failure).or_default() += 1;
    }
    counts
}

/// How many calls each replica answered 200.
fn by_replica<'a>(sent: impl IntoIterator<Item = &'a Sent>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for replica in sent.into_iter().filter_map(Sent::answered_by) {
        *counts.entry(replica.to_owned()).or_default() += 1;
    }
    counts
}

/// The sum of a replica's series `name` (every label set of it), as `/metrics` shows it now.
async fn metric(server: &Server, name: &str) -> f64 {
    let text = server
        .client
        .get(server.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// Every replica's matched calls, calls written and calls dropped, by the metrics.
async fn counters(replicas: &[Server]) -> Vec<[f64; 3]> {
    let mut all = Vec::new();
    for server in replicas {
        all.push([
            metric(server, "lyrebird_mock_calls_total{outcome=\"matched\"}").await,
            metric(server, "lyrebird_call_log_written_total").await,
            metric(server, "lyrebird_call_log_dropped_total").await,
        ]);
    }
    all
}

/// The counters once the call logs' writers have written every call answered so far: on every
/// replica, its calls of every outcome all written or dropped (no load runs meanwhile). A
/// writer stalled by the database for a while is waited for, up to 30 s.
async fn settled_counters(replicas: &[Server]) -> Vec<[f64; 3]> {
    let started = Instant::now();
    loop {
        let mut unwritten = Vec::new();
        for server in replicas {
            unwritten.push(metric(server, "lyrebird_mock_calls_total").await);
        }
        let now = counters(replicas).await;
        for (all, [_, written, dropped]) in unwritten.iter_mut().zip(&now) {
            *all -= written + dropped;
        }
        if unwritten.iter().all(|&calls| calls == 0.0) {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "calls still not written, by replica: {unwritten:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many times each `/calls/<n>` is in the mock's call log.
async fn logged(server: &Server, key: &str, mock: &str) -> BTreeMap<u64, u32> {
    let (status, text) = server
        .get(
            &format!("/api/v1/mocks/{mock}/calls/export?format=ndjson&path_prefix=/calls/"),
            key,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let call: Value = serde_json::from_str(line).unwrap();
        let n = call["path"].as_str().unwrap()["/calls/".len()..]
            .parse()
            .unwrap();
        *counts.entry(n).or_default() += 1;
    }
    counts
}

/// Waits until the call log holds every call of `expected` (or 30 s): the writers write a
/// moment after the calls, and after an outage, once the database is back.
async fn logged_once_written(
    server: &Server,
    key: &str,
    mock: &str,
    expected: &[u64],
) -> BTreeMap<u64, u32> {
    let started = Instant::now();
    loop {
        let counts = logged(server, key, mock).await;
        if expected.iter().all(|n| counts.contains_key(n))
            || started.elapsed() > Duration::from_secs(30)
        {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The paths of the calls a live tail sent, read until `stop`.
fn tail(response: reqwest::Response, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut response = response;
        let mut received = String::new();
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(200), response.chunk()).await {
                Ok(Ok(Some(chunk))) => received.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => break,
                Err(_) => {}
            }
        }
        received
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behind_haproxy_survive_restarts_a_kill_and_a_database_outage() {
    let data = DataDir::new();
    let cluster = OwnCluster::start(&data.0).await;
    let database = cluster.url();
    let ports = [free_port(), free_port(), free_port()];
    let mut replicas: Vec<Server> = ports
        .iter()
        .map(|&port| start_replica(port, &database))
        .collect();
    let balancer = Balancer::start(&ports);
    let client = reqwest::Client::new();
    balancer.wait_for_every_replica(&client).await;

    let owner = replicas[0].sign_up("owner@example.com").await;
    let mock = replicas[0]
        .create_mock(
            &owner.key,
            json!({"name": "Orders"}),
            &[example("order", "GET", "/calls/:n")],
        )
        .await;
    let calls = format!("{}/m/{mock}/calls/", balancer.base);

    // A live tail on the first replica, which is never stopped.
    let tail_response = replicas[0]
        .client
        .get(replicas[0].url(&format!("/api/v1/mocks/{mock}/calls/stream")))
        .bearer_auth(&owner.key)
        .send()
        .await
        .unwrap();
    assert_eq!(tail_response.status(), StatusCode::OK);
    let tail_stop = Arc::new(AtomicBool::new(false));
    let tail = tail(tail_response, tail_stop.clone());

    // 1. Under load: the second replica stopped with SIGTERM and started again, the third
    //    killed with SIGKILL and started again.
    let load = Load::start(&client, &calls, 0..1_000_000);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let terminated_at = Instant::now();
    let stopping = replicas.remove(1);
    let stopped = stopping.terminate();
    assert!(stopped.success(), "SIGTERM: a clean exit ({stopped})");
    let terminated_for = terminated_at.elapsed();
    replicas.insert(1, start_replica(ports[1], &database));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = Instant::now();
    replicas.remove(2).kill();
    replicas.insert(2, start_replica(ports[2], &database));
    // Until then, what the third replica answered, the killed process answered: a client may
    // read an answer it sent at the very moment of the kill after `killed_at`.
    let restarted_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let restarts = load.finish().await;
    eprintln!(
        "restarts: {} calls, answered by {:?}; SIGTERM to exit {terminated_for:?}; not answered 200: {:?}",
        restarts.len(),
        by_replica(&restarts),
        failures(&restarts),
    );
    for error in restarts.iter().filter(|call| call.answered_by().is_none()) {
        assert!(
            error.at >= killed_at && error.at < killed_at + Duration::from_secs(3),
            "only calls on connections to the killed replica fail, soon after the kill: {error:?}"
        );
    }
    let restarted_answered = by_replica(
        restarts
            .iter()
            .filter(|call| call.at > killed_at + Duration::from_secs(1)),
    );
    assert_eq!(
        restarted_answered.len(),
        3,
        "every replica answers again after the restarts: {restarted_answered:?}"
    );
    let first_after_restarts = restarts.last().unwrap().n + 1;

    // 2. A workspace at its quota, called through every replica: it holds across them.
    let capped = replicas[0].sign_up("capped@example.com").await;
    let quota = 300;
    let set = lyrebird()
        .args(["workspace", "set-quota", "capped@example.com", "300"])
        .env("DATABASE_URL", &database)
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");
    let capped_mock = replicas[0]
        .create_mock(
            &capped.key,
            json!({"name": "Capped"}),
            &[example("capped", "GET", "/calls/:n")],
        )
        .await;
    let capped_calls = Load::start(
        &client,
        &format!("{}/m/{capped_mock}/calls/", balancer.base),
        0..2 * quota,
    )
    .completed()
    .await;
    let admitted = capped_calls
        .iter()
        .filter(|call| call.answered_by().is_some())
        .count() as u64;
    let answered_with = |status, wanted: &str| {
        capped_calls
            .iter()
            .filter(|call| matches!(&call.answer, Ok((got, Some(_), code)) if *got == status && code == wanted))
            .count() as u64
    };
    let refused = answered_with(StatusCode::TOO_MANY_REQUESTS, "monthly_quota_exceeded");
    // Near the quota every replica leases a few calls at a time, each lease a round trip to the
    // database. A call waits 0.5 s for one at most: a database stalled longer than that (on a
    // loaded machine, a second or two) has the call refused as uncheckable, never admitted.
    let unchecked = answered_with(StatusCode::SERVICE_UNAVAILABLE, "quota_unavailable");
    eprintln!(
        "quota {quota}: {admitted} admitted, {refused} refused, {unchecked} refused as uncheckable, \
         answered by {:?}; answers other than 200: {:?}",
        by_replica(&capped_calls),
        failures(&capped_calls),
    );
    assert_eq!(
        admitted + refused + unchecked,
        2 * quota,
        "only 200, 429 and 503 quota_unavailable: {:?}",
        failures(&capped_calls)
    );
    assert!(admitted <= quota, "never past the quota: {admitted}");
    assert!(refused > 0, "the quota was reached");
    let waiting = Instant::now();
    loop {
        let (_, usage) = replicas[2]
            .api(Method::GET, "/api/v1/usage", &capped.key, None)
            .await;
        if usage["calls"] == admitted {
            break;
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "usage counts what was admitted ({admitted}): {usage}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 3. The database stopped for 20 s under load: warm mocks answer throughout, and every
    //    call is written once it is back.
    let warm = Load::start(
        &client,
        &calls,
        first_after_restarts..first_after_restarts + 60,
    )
    .completed()
    .await;
    assert_eq!(
        by_replica(&warm).len(),
        3,
        "warm on every replica: {warm:?}"
    );
    let first_of_outage = first_after_restarts + 60;
    let before = settled_counters(&replicas).await;
    let load = Load::start(&client, &calls, first_of_outage..1_000_000_000);
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.stop();
    let stopped_at = Instant::now();
    let (status, refused) = json_of(
        client
            .get(format!("{}/api/v1/mocks", balancer.base))
            .bearer_auth(&owner.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(
        refused["error"]["code"], "database_unavailable",
        "{refused}"
    );
    for server in &replicas {
        let serving: Value = server
            .client
            .get(server.url("/readyz/mocks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(serving["database"], "unavailable", "{serving}");
    }
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(stopped_at.elapsed())).await;
    cluster.start_again();
    let started_again = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let outage = load.finish().await;
    let during: Vec<&Sent> = outage
        .iter()
        .filter(|call| call.at > stopped_at && call.at < started_again)
        .collect();
    eprintln!(
        "outage: {} calls ({} while the database was stopped), answered by {:?}",
        outage.len(),
        during.len(),
        by_replica(&outage)
    );
    let failed: Vec<&Sent> = outage
        .iter()
        .filter(|call| call.answered_by().is_none())
        .collect();
    assert!(
        failed.is_empty(),
        "warm mocks answer throughout: {failed:?}"
    );

    // The call log: each answered call once, but for the killed replica's last calls, which were
    // waiting in its memory for its writer. Its writer writes in the order calls are answered,
    // so what it lost is a run of its last calls: none answered before one it wrote. How long a
    // run depends on how far behind the writer was (0.1 s, or more with a stalled database).
    let answered: Vec<&Sent> = [&restarts, &warm, &outage]
        .into_iter()
        .flatten()
        .filter(|call| call.answered_by().is_some())
        .collect();
    // Until its new process listened, what the third replica answered, the killed one did.
    let by_killed = |call: &Sent| call.answered_by() == Some(NAMES[2]) && call.at < restarted_at;
    let surely_logged: Vec<u64> = answered
        .iter()
        .filter(|call| !by_killed(call))
        .map(|call| call.n)
        .collect();
    let logged = logged_once_written(&replicas[0], &owner.key, &mock, &surely_logged).await;
    let caught_up = started_again.elapsed();
    let twice: Vec<(&u64, &u32)> = logged.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "logged more than once: {twice:?}");
    let (written, lost): (Vec<&Sent>, Vec<&Sent>) = answered
        .iter()
        .partition(|call| logged.contains_key(&call.n));
    let last_written_by_killed = written
        .iter()
        .filter(|call| by_killed(call))
        .map(|call| call.at)
        .max()
        .unwrap();
    let first_lost = lost.iter().map(|call| call.at).min();
    eprintln!(
        "call log: {} of {} answered calls, all in it {caught_up:?} after the database started \
         again; not logged: {} (answered by the killed replica from {:?} before the kill)",
        written.len(),
        answered.len(),
        lost.len(),
        first_lost.map(|at| killed_at.saturating_duration_since(at)),
    );
    for call in &lost {
        // A client reads an answer a moment after it is sent, some later than others.
        assert!(
            by_killed(call) && call.at + Duration::from_secs(1) > last_written_by_killed,
            "every call is logged, but for the killed replica's unwritten last ones: {call:?}, \
             read {:?} before the kill, {:?} after it; the killed replica's last written call \
             read {:?} before the kill",
            killed_at.checked_duration_since(call.at),
            call.at.checked_duration_since(killed_at),
            killed_at.checked_duration_since(last_written_by_killed),
        );
    }

    // The live tail on the first replica saw every logged call of the restarts, from all three.
    tokio::time::sleep(Duration::from_secs(1)).await;
    tail_stop.store(true, Ordering::Relaxed);
    let tailed = tail.await.unwrap();
    let unseen: Vec<u64> = restarts
        .iter()
        .filter(|call| logged.contains_key(&call.n))
        .filter(|call| !tailed.contains(&format!("\"path\":\"/calls/{}\"", call.n)))
        .map(|call| call.n)
        .collect();
    assert!(
        unseen.is_empty(),
        "the tail on one replica shows the calls of all three; missing {} of them: {unseen:?}",
        unseen.len()
    );

    // The metrics of each replica count what the clients saw it answer.
    let after = settled_counters(&replicas).await;
    let answered_by = by_replica(&outage);
    for ((name, before), after) in NAMES.iter().zip(&before).zip(&after) {
        let answered = answered_by.get(*name).copied().unwrap_or_default() as f64;
        eprintln!("{name}: answered {answered}, metrics before {before:?}, after {after:?}");
        assert_eq!(after[0] - before[0], answered, "{name}: calls matched");
        assert_eq!(after[1] - before[1], answered, "{name}: calls written");
        assert_eq!(after[2] - before[2], 0.0, "{name}: calls dropped");
    }
    for server in replicas {
        assert!(server.interrupt().success());
    }
}
