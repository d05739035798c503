//! The server's configuration: command-line flags, each with an environment variable behind it,
//! all listed by `lyrebird serve --help`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use lyrebird_runtime::call_log::CallLogOptions;
use lyrebird_runtime::network::AllowList;
use sqlx::postgres::PgConnectOptions;

use crate::auth::client_addr::TrustedProxies;

/// Options of `lyrebird serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "LYREBIRD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// A token that opens GET /metrics (Authorization: Bearer <token>). Without it, /metrics
    /// is not served on --listen.
    #[arg(long, env = "LYREBIRD_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<MetricsToken>,

    /// Also serve GET /metrics on this address (with the token, when one is set), e.g. for a
    /// scraper on the cluster's network only.
    #[arg(long, env = "LYREBIRD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// The public host[:port] of this server. Mocks are reached at
    /// http://<mock-id>.mock.<base-host>/ and http://<base-host>/m/<mock-id>/.
    /// [default: localhost:<port of --listen>]
    #[arg(long, env = "LYREBIRD_BASE_HOST", value_parser = parse_base_host)]
    pub base_host: Option<String>,

    /// Where the server keeps its files, including the embedded PostgreSQL cluster.
    #[arg(long, env = "LYREBIRD_DATA_DIR", default_value = "./.lyrebird")]
    pub data_dir: PathBuf,

    /// A PostgreSQL server to use instead of the embedded one, e.g.
    /// postgres://user:password@host/lyrebird. The server then manages no cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<GivenDatabaseUrl>,

    /// Mock calls a workspace may make per calendar month, unless set for that workspace.
    #[arg(long, env = "LYREBIRD_MONTHLY_QUOTA", default_value_t = 10_000)]
    pub monthly_quota: u64,

    /// The largest request body the admin API accepts, in bytes.
    #[arg(long, env = "LYREBIRD_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// The largest file the import endpoints (/api/v1/imports/...) accept, in bytes.
    #[arg(long, env = "LYREBIRD_MAX_IMPORT_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_import_bytes: usize,

    /// Resident memory, in bytes, past which the server refuses new requests (503
    /// memory_pressure, Retry-After: 1) until it is back under it; /healthz is always answered.
    /// [default: 85% of the cgroup's or machine's memory]
    #[arg(long, env = "LYREBIRD_MEMORY_LIMIT_BYTES")]
    pub memory_limit_bytes: Option<u64>,

    /// Where to look for PostgreSQL server programs (<dir>/<version>/bin) when they are not on
    /// PATH. Used only without DATABASE_URL.
    #[arg(long, env = "LYREBIRD_PG_SEARCH_DIR", default_value = lyrebird_store::embedded::DEFAULT_SEARCH_DIR)]
    pub pg_search_dir: PathBuf,

    #[command(flatten)]
    pub runtime: RuntimeArgs,

    #[command(flatten)]
    pub call_log: CallLogArgs,

    #[command(flatten)]
    pub mail: MailArgs,

    /// How long a callback may take, in milliseconds, before it is recorded as timed out.
    #[arg(long, env = "LYREBIRD_CALLBACK_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub callback_timeout_ms: u64,

    /// Hosts, addresses and networks that callbacks and mocks' upstreams may reach although
    /// they are loopback, private or link-local (refused otherwise), comma-separated: e.g.
    /// localhost,hooks.internal,10.1.0.0/16
    #[arg(long, env = "LYREBIRD_CALLBACK_ALLOW", default_value = "")]
    pub callback_allow: AllowList,

    /// Reverse proxies whose X-Forwarded-For is believed, comma-separated addresses and
    /// networks: e.g. 127.0.0.1,10.0.0.0/8. From a trusted peer the client is the rightmost
    /// address in X-Forwarded-For that is not trusted; from any other peer the header is ignored.
    /// Empty, nobody is trusted: the client is the TCP peer.
    #[arg(long, env = "LYREBIRD_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
}

/// Options of the mock runtime (part of `lyrebird serve`).
#[derive(Debug, Clone, Args)]
pub struct RuntimeArgs {
    /// How many compiled mocks each process keeps in memory; the least recently used leave
    /// first.
    #[arg(long, env = "LYREBIRD_MOCK_CACHE_SIZE", default_value_t = 10_000)]
    pub mock_cache_size: usize,

    /// The largest request body a mock accepts, in bytes (a larger one is answered 413).
    #[arg(long, env = "LYREBIRD_MOCK_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub mock_max_body_bytes: usize,

    /// Mock calls a process first reserves from a workspace's monthly quota at a time; the lease
    /// doubles (up to 1,024 times this) when calls outrun it. Several processes never admit more
    /// than the quota together; larger leases mean fewer database round trips.
    #[arg(long, env = "LYREBIRD_QUOTA_LEASE", default_value_t = 100)]
    pub quota_lease: u64,
}

impl Default for RuntimeArgs {
    fn default() -> Self {
        Self {
            mock_cache_size: 10_000,
            mock_max_body_bytes: 1024 * 1024,
            quota_lease: 100,
        }
    }
}

/// Options of the call log (part of `lyrebird serve`).
#[derive(Debug, Clone, Args)]
pub struct CallLogArgs {
    /// Request and response bodies longer than this many bytes are cut to it in the call log
    /// (the original size is kept).
    #[arg(long, env = "LYREBIRD_CALL_LOG_BODY_CAP", default_value_t = 64 * 1024)]
    pub call_log_body_cap: usize,

    /// Days the call log keeps calls; older months are dropped whole, then older calls of the
    /// oldest month kept are deleted.
    #[arg(long, env = "LYREBIRD_CALL_LOG_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub call_log_retention_days: u32,

    /// Calls that may wait for the call-log writer; past it, calls are not logged (and counted
    /// in the log) rather than slowing mock responses down.
    #[arg(long, env = "LYREBIRD_CALL_LOG_QUEUE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub call_log_queue: u64,
}

impl Default for CallLogArgs {
    fn default() -> Self {
        let options = CallLogOptions::default();
        Self {
            call_log_body_cap: options.body_cap,
            call_log_retention_days: options.retention_days,
            call_log_queue: options.queue_capacity as u64,
        }
    }
}

impl CallLogArgs {
    pub fn options(&self) -> CallLogOptions {
        CallLogOptions {
            body_cap: self.call_log_body_cap,
            retention_days: self.call_log_retention_days,
            queue_capacity: usize::try_from(self.call_log_queue).unwrap_or(usize::MAX),
            ..CallLogOptions::default()
        }
    }
}

/// Mail and the links it carries (part of `lyrebird serve`).
#[derive(Debug, Clone, Args)]
pub struct MailArgs {
    /// The SMTP server that mails invitations and account links, e.g.
    /// smtp://user:password@mail.example.com:587 (STARTTLS), smtps://... (TLS), or
    /// smtp://127.0.0.1:2525 (plain, for a local relay). Without it nothing is mailed: links are
    /// shown to copy.
    #[arg(long, env = "LYREBIRD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SmtpUrl>,

    /// The From address of the mails.
    #[arg(
        long,
        env = "LYREBIRD_MAIL_FROM",
        default_value = "Lyrebird <lyrebird@localhost>"
    )]
    pub mail_from: String,

    /// How long a mail may take to send, in milliseconds; past it the link is shown to copy.
    #[arg(long, env = "LYREBIRD_SMTP_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub smtp_timeout_ms: u64,

    /// The server's public URL, which links in mails and on pages start with, e.g.
    /// https://lyrebird.example.com. [default: http://<base-host>]
    #[arg(long, env = "LYREBIRD_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Days an invitation's link works.
    #[arg(long, env = "LYREBIRD_INVITATION_DAYS", default_value_t = 7,
          value_parser = clap::value_parser!(u16).range(1..=365))]
    pub invitation_days: u16,
}

impl Default for MailArgs {
    fn default() -> Self {
        Self {
            smtp_url: None,
            mail_from: "Lyrebird <lyrebird@localhost>".to_owned(),
            smtp_timeout_ms: 10_000,
            public_url: None,
            invitation_days: 7,
        }
    }
}

/// `LYREBIRD_SMTP_URL` as given: it may hold a password, so `Debug` never shows it and it is
/// parsed (by lettre) only once the command line is read.
#[derive(Clone)]
pub struct SmtpUrl(pub String);

impl FromStr for SmtpUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(Self(url.to_owned()))
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpUrl(***)")
    }
}

/// An http(s) URL without a trailing slash, which paths are appended to.
fn parse_public_url(input: &str) -> Result<String, String> {
    let url = input.trim().trim_end_matches('/');
    let parsed = url::Url::parse(url).map_err(|error| format!("{input:?}: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "{input:?} is not an http(s) URL such as https://lyrebird.example.com"
        ));
    }
    Ok(url.to_owned())
}

/// A host with an optional port, in lower case: mock URLs are built on it and mock hosts are
/// recognised by it, so a scheme or a path here would break both.
fn parse_base_host(input: &str) -> Result<String, String> {
    let host = input.trim().to_ascii_lowercase();
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if valid {
        Ok(host)
    } else {
        Err(format!(
            "{input:?} is not a host[:port] such as mocks.example.com or localhost:8080 (no scheme, no path)"
        ))
    }
}

/// `DATABASE_URL` as given, unparsed. Clap prints a value its parser refuses whole, and this
/// one may hold a password anywhere (`user:pw@` or `?password=`), so it is parsed only after the
/// command line is read ([`GivenDatabaseUrl::parse`]). `Debug` never shows it.
#[derive(Clone)]
pub struct GivenDatabaseUrl(String);

impl FromStr for GivenDatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(Self(url.to_owned()))
    }
}

impl fmt::Debug for GivenDatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GivenDatabaseUrl(***)")
    }
}

impl GivenDatabaseUrl {
    /// The parsed URL; the error says what is wrong without repeating the URL.
    pub fn parse(&self) -> Result<DatabaseUrl, String> {
        let scheme = self.0.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("postgres" | "postgresql")) {
            return Err(
                "DATABASE_URL is not a PostgreSQL URL: it must start with postgres:// or postgresql://"
                    .to_owned(),
            );
        }
        let options = PgConnectOptions::from_str(&self.0)
            .map_err(|error| format!("DATABASE_URL is not a PostgreSQL URL: {error}"))?;
        Ok(DatabaseUrl { options })
    }
}

/// A parsed PostgreSQL URL. `Debug` and `Display` show where it leads (host or socket, port,
/// database, user) and never the password, wherever the URL carried it.
#[derive(Clone)]
pub struct DatabaseUrl {
    options: PgConnectOptions,
}

impl DatabaseUrl {
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options = &self.options;
        let user = options.get_username();
        let database = options.get_database().unwrap_or(user);
        let port = options.get_port();
        match options.get_socket() {
            Some(socket) => write!(
                f,
                "postgres://{user}@/{database}?host={}&port={port}",
                socket.display()
            ),
            None => write!(
                f,
                "postgres://{user}@{}:{port}/{database}",
                options.get_host()
            ),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// The token of `GET /metrics`; never shown by `Debug`, so it stays out of logs.
#[derive(Clone)]
pub struct MetricsToken(pub String);

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken([redacted])")
    }
}

impl FromStr for MetricsToken {
    type Err = std::convert::Infallible;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        Ok(Self(token.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_host_is_a_host_and_port_in_lower_case() {
        assert_eq!(
            parse_base_host("Mocks.Example.com:8443").unwrap(),
            "mocks.example.com:8443"
        );
        assert_eq!(parse_base_host("[::1]:8080").unwrap(), "[::1]:8080");
        for bad in [
            "http://mocks.example.com",
            "mocks.example.com/api",
            "",
            "a b",
        ] {
            assert!(parse_base_host(bad).is_err(), "{bad}");
        }
    }

    fn given(url: &str) -> GivenDatabaseUrl {
        url.parse().unwrap()
    }

    #[test]
    fn the_password_of_a_database_url_never_shows() {
        let url = given("postgres://lyre:s3cr3t@db.internal:5432/lyrebird")
            .parse()
            .unwrap();
        assert_eq!(url.to_string(), "postgres://lyre@db.internal:5432/lyrebird");
        assert!(!format!("{url:?}").contains("s3cr3t"));
        let in_query = given("postgres://lyre@db.internal/lyrebird?password=s3cr3t&port=6543")
            .parse()
            .unwrap();
        assert_eq!(
            in_query.to_string(),
            "postgres://lyre@db.internal:6543/lyrebird"
        );
        let socket = given("postgres:///lyrebird?host=/run/pg&user=lyre&password=s3cr3t")
            .parse()
            .unwrap();
        assert_eq!(
            socket.to_string(),
            "postgres://lyre@/lyrebird?host=/run/pg&port=5432"
        );
    }

    #[test]
    fn a_malformed_database_url_is_refused_without_repeating_it() {
        for bad in [
            "postgres://lyre:s3cr3t@db.internal:notaport/lyrebird",
            "lyre:s3cr3t at db.internal",
            "postgres://lyre@db/lyrebird?password=s3cr3t&sslmode=sometimes",
        ] {
            let given = given(bad);
            let error = given.parse().unwrap_err();
            assert!(
                error.starts_with("DATABASE_URL is not a PostgreSQL URL"),
                "{error}"
            );
            assert!(!error.contains("s3cr3t"), "{error}");
            assert!(!format!("{given:?}").contains("s3cr3t"));
        }
        let url = given("postgres://lyre:s3cr3t@db.internal:5432/lyrebird");
        let args = ServeArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            base_host: None,
            data_dir: PathBuf::from("."),
            database_url: Some(url),
            monthly_quota: 1,
            max_body_bytes: 1,
            max_import_bytes: 1,
            memory_limit_bytes: None,
            pg_search_dir: PathBuf::from("."),
            runtime: Default::default(),
            call_log: Default::default(),
            mail: MailArgs::default(),
            callback_timeout_ms: 1,
            callback_allow: AllowList::default(),
            trusted_proxies: TrustedProxies::default(),
            metrics_token: Some(MetricsToken("s3cr3t".to_owned())),
            metrics_listen: None,
        };
        assert!(!format!("{args:?}").contains("s3cr3t"));
    }
}
