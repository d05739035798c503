//! `loadgen`: a closed-loop HTTP/1.1 load generator for the load benchmark.
//!
//! N keep-alive connections each send one request, read the whole answer, and send the next,
//! until the duration is over or the request budget is spent; every request that was sent is
//! answered before it stops, so "answered" is exactly what the server answered (the call-log
//! check of `deploy/loadbench.sh` relies on that). Latency per request goes into an HDR
//! histogram. It only ever targets loopback addresses: this is a benchmark of a server on the same
//! machine, never a way to load someone else's.
//!
//! The request is written once, as bytes, and answers are parsed with `httparse` straight off
//! the socket. A general HTTP client (hyper's, tried first) spent about 20 µs of its own core per
//! request, three times what a bare axum server spends answering it, so it measured itself rather
//! than the server.
//!
//! It busy-polls: its threads never sleep while the load runs. On loopback the kernel delivers
//! an answer, and wakes the thread waiting for it, on the core that sent the answer, so a load
//! generator that sleeps between answers has its wake-ups charged to the server's core (about
//! 4 µs an answer here, measured with `perf`: `sock_def_readable` under the server's `writev`).
//! A client on another machine costs the server nothing of the kind. A busy load generator
//! sleeps rarely whatever it loads, so without this the slower of two servers paid more per
//! request than the faster one for the same answers. `--no-busy-poll` measures the other way.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::http::{Method, Uri};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

    /// A request body, sent with its `Content-Length` (add its `Content-Type` with `-H`).
    #[arg(long)]
    body: Option<String>,

    /// Sleep between answers instead of busy-polling (see the module's documentation).
    #[arg(long)]
    no_busy_poll: bool,

    /// Worker threads [default: the cores this process may run on].
    #[arg(long)]
    threads: Option<usize>,
}

/// What to send, shared by every connection.
struct Target {
    address: SocketAddr,
    /// The whole request, written as is for every call.
    request: Vec<u8>,
}

/// Most response headers read; a response with more is an error.
const MAX_HEADERS: usize = 64;

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
    runtime.block_on(run(args, threads))
}

async fn run(args: Args, threads: usize) -> anyhow::Result<()> {
    let target = Arc::new(target(&args).await?);
    let budget = Arc::new(AtomicU64::new(args.requests.unwrap_or(u64::MAX)));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    // Tasks that are always ready, one a thread, keep the runtime polling instead of sleeping.
    let spinners = if args.no_busy_poll { 0 } else { threads };
    let spinners: Vec<_> = (0..spinners)
        .map(|_| {
            tokio::spawn(async {
                loop {
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
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
    for spinner in spinners {
        spinner.abort();
    }
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
    let authority = args.url.authority().context("the URL has no host")?;
    let mut headers = vec![("Host".to_owned(), authority.to_string())];
    for line in &args.headers {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("header {line:?} is not `Name: value`"))?;
        let (name, value) = (name.trim(), value.trim());
        ensure!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'),
            "invalid header name in {line:?}"
        );
        ensure!(
            !value.contains(['\r', '\n']),
            "invalid header value in {line:?}"
        );
        headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        headers.push((name.to_owned(), value.to_owned()));
    }
    if let Some(body) = &args.body {
        headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case("content-length"));
        headers.push(("Content-Length".to_owned(), body.len().to_string()));
    }
    let path = args.url.path_and_query().map_or("/", |p| p.as_str());
    let mut request = format!("{} {path} HTTP/1.1\r\n", args.method);
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(args.body.as_deref().unwrap_or_default());
    Ok(Target {
        address,
        request: request.into_bytes(),
    })
}

/// One keep-alive connection sending requests back to back; reconnects after an error or when
/// the server closes it.
async fn connection(target: Arc<Target>, budget: Arc<AtomicU64>, deadline: Instant) -> Tally {
    let mut tally = Tally::new();
    let mut stream = None;
    let mut buffer = Vec::with_capacity(64 * 1024);
    while Instant::now() < deadline && take_one(&budget) {
        let socket = match stream.as_mut() {
            Some(socket) => socket,
            None => match connect(target.address).await {
                Ok(socket) => stream.insert(socket),
                Err(error) => {
                    tally.error(format!("connect: {error}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        match exchange(socket, &target.request, &mut buffer).await {
            Ok(answer) => {
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                tally.latency_us.saturating_record(micros.max(1));
                *tally.statuses.entry(answer.status).or_default() += 1;
                if answer.close {
                    stream = None;
                }
            }
            Err(error) => {
                tally.error(format!("{error:#}"));
                stream = None;
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

async fn connect(address: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What a response said that matters here.
struct Answer {
    status: u16,
    /// The server closes the connection after it.
    close: bool,
}

/// Writes the request and reads the whole response: its head, then a `Content-Length` body.
async fn exchange(
    socket: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> anyhow::Result<Answer> {
    socket.write_all(request).await?;
    buffer.clear();
    let (answer, body_end) = loop {
        if socket.read_buf(buffer).await? == 0 {
            bail!("the server closed the connection");
        }
        if let Some(head) = parse_head(buffer)? {
            break head;
        }
    };
    while buffer.len() < body_end {
        if socket.read_buf(buffer).await? == 0 {
            bail!("the server closed the connection in the middle of a body");
        }
    }
    Ok(answer)
}

/// The response head, once it is all in `buffer`, and where the body ends.
fn parse_head(buffer: &[u8]) -> anyhow::Result<Option<(Answer, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = response.parse(buffer)? else {
        return Ok(None);
    };
    let mut length = 0;
    let mut close = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(header.value)?.trim().parse::<usize>()?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("chunked responses are not supported");
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    let status = response.code.context("a response without a status")?;
    Ok(Some((Answer { status, close }, head + length)))
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
