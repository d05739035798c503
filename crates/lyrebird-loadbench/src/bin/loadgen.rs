//! `loadgen`: a closed-loop HTTP/1.1 load generator for the load benchmark.
//!
//! N keep-alive connections each send one request, read the whole answer, and send the next,
//! until the duration is over or the request budget is spent; every request that was sent is
//! answered before it stops, so "answered" is exactly what the server answered (the call-log
//! check of `deploy/loadbench.sh` relies on that). Latency per request goes into an HDR
//! histogram. It only ever targets loopback addresses: this is a benchmark of a server on the same
//! machine, never a way to load someone else's.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest run accepted, so a mistyped duration cannot tie the machine up.
const MAX_DURATION_SECS: u64 = 600;
const MAX_CONNECTIONS: usize = 1024;

/// Load an HTTP server on this machine and report requests per second and latency.
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Args {
    /// What to request, e.g. http://127.0.0.1:8080/m/<mock-id>/users/42. Loopback only.
    url: Uri,

    /// Keep-alive connections, each with one request in flight.
    #[arg(long, short, default_value_t = 64)]
    connections: usize,

    /// How long to send requests, in seconds.
    #[arg(long, short, default_value_t = 10)]
    duration: u64,

    /// Stop after this many requests, if that comes before the duration.
    #[arg(long, short = 'n')]
    requests: Option<u64>,

    /// Request method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: Method,

    /// An extra request header, `Name: value` (repeatable); a `Host` given here replaces the
    /// URL's.
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,

    /// Worker threads [default: the cores this process may run on].
    #[arg(long)]
    threads: Option<usize>,
}

/// What to send, shared by every connection.
struct Target {
    address: SocketAddr,
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// What one connection saw.
struct Tally {
    latency_us: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            // 1 µs to 60 s, three significant digits.
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }

    fn merge(&mut self, other: Self) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms of the same bounds");
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        for (error, count) in other.errors {
            *self.errors.entry(error).or_default() += count;
        }
    }

    fn error(&mut self, error: impl ToString) {
        *self.errors.entry(error.to_string()).or_default() += 1;
    }
}

fn main() -> ExitCode {
    match load(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: Args) -> anyhow::Result<()> {
    ensure!(
        (1..=MAX_CONNECTIONS).contains(&args.connections),
        "--connections must be 1 to {MAX_CONNECTIONS}"
    );
    ensure!(
        (1..=MAX_DURATION_SECS).contains(&args.duration),
        "--duration must be 1 to {MAX_DURATION_SECS} seconds"
    );
    let threads = match args.threads {
        Some(threads) => threads,
        None => std::thread::available_parallelism()?.get(),
    };
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let target = Arc::new(target(&args).await?);
    let budget = Arc::new(AtomicU64::new(args.requests.unwrap_or(u64::MAX)));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(connection(
                Arc::clone(&target),
                Arc::clone(&budget),
                deadline,
            ))
        })
        .collect();
    let mut tally = Tally::new();
    for worker in workers {
        tally.merge(worker.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    report(&args, &tally, elapsed);
    Ok(())
}

/// The target from the command line, refused unless every address it names is loopback.
async fn target(args: &Args) -> anyhow::Result<Target> {
    if args.url.scheme_str() != Some("http") {
        bail!("only http:// URLs are supported (plain HTTP/1.1 on loopback)");
    }
    let host = args.url.host().context("the URL has no host")?;
    let port = args.url.port_u16().unwrap_or(80);
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((literal, port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .collect(),
    };
    let address = *addresses.first().context("the host resolves to nothing")?;
    if let Some(outside) = addresses.iter().find(|a| !a.ip().is_loopback()) {
        bail!(
            "refusing to load {host} ({}): loadgen only targets loopback addresses",
            outside.ip()
        );
    }
    let mut headers = vec![(
        HOST,
        HeaderValue::from_str(args.url.authority().context("no authority")?.as_str())?,
    )];
    for line in &args.headers {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("header {line:?} is not `Name: value`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("invalid header name in {line:?}"))?;
        let value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("invalid header value in {line:?}"))?;
        headers.retain(|(existing, _)| *existing != name);
        headers.push((name, value));
    }
    let path = args
        .url
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    Ok(Target {
        address,
        method: args.method.clone(),
        path,
        headers,
    })
}

/// One keep-alive connection sending requests back to back; reconnects after an error.
async fn connection(target: Arc<Target>, budget: Arc<AtomicU64>, deadline: Instant) -> Tally {
    let mut tally = Tally::new();
    let mut sender = None;
    while Instant::now() < deadline && take_one(&budget) {
        let send = match sender.as_mut() {
            Some(send) => send,
            None => match connect(target.address).await {
                Ok(send) => sender.insert(send),
                Err(error) => {
                    tally.error(format!("connect: {error}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let mut request = Request::builder()
            .method(target.method.clone())
            .uri(target.path.as_str());
        for (name, value) in &target.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .expect("a request from checked parts");
        let sent = Instant::now();
        match exchange(send, request).await {
            Ok(status) => {
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                tally.latency_us.saturating_record(micros.max(1));
                *tally.statuses.entry(status).or_default() += 1;
            }
            Err(error) => {
                tally.error(error);
                sender = None;
            }
        }
    }
    tally
}

/// Takes one request from the budget; false once it is spent.
fn take_one(budget: &AtomicU64) -> bool {
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        })
        .is_ok()
}

async fn connect(address: SocketAddr) -> anyhow::Result<http1::SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request and reads the whole answer; its status.
async fn exchange(
    sender: &mut http1::SendRequest<Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
) -> Result<u16, hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

fn report(args: &Args, tally: &Tally, seconds: f64) {
    let answered: u64 = tally.statuses.values().sum();
    let successful: u64 = tally.statuses.range(200..300).map(|(_, n)| n).sum();
    let failed: u64 = tally.errors.values().sum();
    let rate = answered as f64 / seconds;
    let latency = &tally.latency_us;
    println!(
        "{} {} with {} connections for {:.2} s",
        args.method, args.url, args.connections, seconds
    );
    println!("  answered   {answered} ({rate:.0} requests/s), failed {failed}");
    for (status, count) in &tally.statuses {
        println!("  status {status}  {count}");
    }
    for (error, count) in &tally.errors {
        println!("  error      {count} x {error}");
    }
    println!(
        "  latency    p50 {} µs, p99 {} µs, max {} µs",
        latency.value_at_quantile(0.50),
        latency.value_at_quantile(0.99),
        latency.max()
    );
    // One line for scripts.
    println!(
        "RESULT answered={answered} ok={successful} failed={failed} seconds={seconds:.3} rps={rate:.0} p50_us={} p99_us={}",
        latency.value_at_quantile(0.50),
        latency.value_at_quantile(0.99)
    );
}
