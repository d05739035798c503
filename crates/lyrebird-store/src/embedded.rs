//! The private PostgreSQL cluster the server runs when no `DATABASE_URL` is given.
//!
//! The cluster lives in `<data-dir>/postgres` and is run with the PostgreSQL server programs
//! installed on the machine (`initdb`, `pg_ctl`, `postgres`, found on `PATH`, else under
//! `/usr/lib/postgresql/<version>/bin`, highest version first). It listens on a Unix socket only
//! (no TCP port), in a directory only its owner can enter, with `trust` authentication on that
//! socket and every TCP connection refused.
//!
//! PostgreSQL refuses to run as root, and CI and containers often run as root: then the cluster
//! is run as the `postgres` system user, which owns the cluster directory and must be able to
//! reach it (every parent directory searchable).
//!
//! Crashes: a stale `postmaster.pid` left by a killed cluster is recovered by `pg_ctl start`; a
//! cluster left running by a killed server is adopted by the next server on the same data
//! directory. A lock file held for the server's lifetime tells the two situations apart from a
//! second server on the same directory, which is refused.
//!
//! Supervision: while an [`EmbeddedPostgres`] runs, a task looks at its postmaster twice a
//! second and, when it has died (killed, or crashed beyond PostgreSQL's own recovery of a
//! crashed backend), starts the cluster again, which recovers it from its write-ahead log. A
//! cluster that dies again soon after such a restart is restarted after a delay that doubles
//! each time (from [`FIRST_RESTART_DELAY`] to [`LAST_RESTART_DELAY`]), so a cluster that cannot
//! stay up is not restarted in a tight loop.
//!
//! The programs are run synchronously, on tokio's blocking threads: at start, at exit and at a
//! restart.

use std::ffi::OsStr;
use std::fs::{self, File, TryLockError};
use std::io;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The superuser of the cluster, and the database the server uses in it.
pub const DATABASE: &str = "lyrebird";

/// Where versioned PostgreSQL installs are looked for when `PATH` has none (Debian and Ubuntu
/// install server programs there, off `PATH`).
pub const DEFAULT_SEARCH_DIR: &str = "/usr/lib/postgresql";

/// The port only names the socket file (`.s.PGSQL.5432`); nothing listens on TCP.
const PORT: u16 = 5432;

/// Unix socket paths are limited to 107 bytes on Linux (`sun_path`).
const MAX_SOCKET_PATH: usize = 107;

const SETTINGS_FILE: &str = "lyrebird.conf";

/// How often the supervisor looks whether the postmaster still runs.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// A cluster that dies within this long of a restart is restarted only after a delay.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// The delay before restarting a cluster that died soon after its last restart, or before
/// trying again when a restart failed; it doubles each time, up to [`LAST_RESTART_DELAY`].
pub const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
pub const LAST_RESTART_DELAY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The server's data directory; the cluster goes in its `postgres` subdirectory.
    pub data_dir: PathBuf,
    /// Where to look for `<version>/bin` when `PATH` has no PostgreSQL server programs.
    pub search_dir: PathBuf,
    /// `false` turns off fsync and friends: only for throwaway clusters, such as the tests'.
    pub durable: bool,
}

impl EmbeddedOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            search_dir: PathBuf::from(DEFAULT_SEARCH_DIR),
            durable: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) not found on PATH or under {0}: \
         install them (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install \
         postgresql-server; macOS: brew install postgresql) or set DATABASE_URL"
    )]
    ProgramsMissing(PathBuf),
    #[error(
        "the data directory {0} is in use by another lyrebird process; stop it or choose another \
         LYREBIRD_DATA_DIR"
    )]
    InUse(PathBuf),
    #[error(
        "PostgreSQL refuses to run as root and there is no `postgres` system user to run it as: \
         create one (useradd --system postgres), run lyrebird as another user, or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error(
        "{dir} cannot be entered by the `{user}` user that runs PostgreSQL (every parent of the \
         data directory must be searchable by it): choose another LYREBIRD_DATA_DIR such as \
         /var/lib/lyrebird, or run `chmod o+x {dir}`"
    )]
    Unreachable { dir: PathBuf, user: String },
    #[error(
        "{0} exists but is not a PostgreSQL cluster; move it away or choose another LYREBIRD_DATA_DIR"
    )]
    NotACluster(PathBuf),
    #[error("{action} failed ({status}): {output}")]
    Program {
        action: &'static str,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: io::Error,
    },
    #[error("creating the {DATABASE} database failed")]
    CreateDatabase(#[source] sqlx::Error),
}

type Result<T, E = EmbeddedError> = std::result::Result<T, E>;

fn io_error(action: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedError {
    let action = action.into();
    move |source| EmbeddedError::Io { action, source }
}

/// The unprivileged system user that runs the cluster when we are root.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SystemUser {
    name: String,
    uid: u32,
    gid: u32,
}

/// A PostgreSQL cluster in a data directory, located but not necessarily running.
#[derive(Debug, Clone)]
pub struct Cluster {
    data_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<SystemUser>,
    durable: bool,
}

impl Cluster {
    /// Finds the programs and decides the directories and the user; changes nothing yet except
    /// creating the data directory.
    pub fn locate(options: &EmbeddedOptions) -> Result<Self> {
        let bin_dir = find_programs(std::env::var_os("PATH").as_deref(), &options.search_dir)?;
        fs::create_dir_all(&options.data_dir).map_err(io_error(format!(
            "creating the data directory {}",
            options.data_dir.display()
        )))?;
        let data_dir = options.data_dir.canonicalize().map_err(io_error(format!(
            "resolving the data directory {}",
            options.data_dir.display()
        )))?;
        let run_as = if effective_uid_is_root() {
            Some(system_user("postgres").ok_or(EmbeddedError::NoUnprivilegedUser)?)
        } else {
            None
        };
        if let Some(user) = &run_as {
            check_reachable(&data_dir, user)?;
        }
        let cluster_dir = data_dir.join("postgres");
        let socket_dir = socket_dir_for(&data_dir);
        Ok(Self {
            data_dir,
            cluster_dir,
            socket_dir,
            bin_dir,
            run_as,
            durable: options.durable,
        })
    }

    /// How to connect to `database` in this cluster.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username(DATABASE)
            .database(database)
    }

    /// The process id in `postmaster.pid`, if the file is there (the process may be dead).
    fn postmaster_pid(&self) -> Option<u32> {
        let pid_file = fs::read_to_string(self.cluster_dir.join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// Creates the cluster if needed and starts it unless it is already running (left by a
    /// crashed server). Returns `true` when a running cluster was adopted.
    pub(crate) fn prepare(&self) -> Result<bool> {
        self.initialise_if_needed()?;
        self.prepare_socket_dir()?;
        self.write_settings()?;
        self.remove_locks_of_unreaped_postmaster()?;
        if self.is_running()? {
            tracing::warn!(cluster = %self.cluster_dir.display(), "adopting a PostgreSQL cluster left running by an earlier process");
            return Ok(true);
        }
        let started = Instant::now();
        self.run(
            "starting PostgreSQL (pg_ctl start)",
            self.pg_ctl("start")
                .arg("-l")
                .arg(self.cluster_dir.join("server.log"))
                .args(["-w", "-t", "120", "-s"]),
        )?;
        tracing::info!(
            cluster = %self.cluster_dir.display(),
            socket_dir = %self.socket_dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "embedded PostgreSQL started"
        );
        Ok(false)
    }

    /// Creates the server's database on first run.
    pub(crate) async fn create_database_if_missing(&self, name: &str) -> Result<()> {
        let mut conn = self
            .connect_options("postgres")
            .connect()
            .await
            .map_err(EmbeddedError::CreateDatabase)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await
                .map_err(EmbeddedError::CreateDatabase)?;
        if !exists {
            let quoted = name.replace('"', "\"\"");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{quoted}\"")))
                .execute(&mut conn)
                .await
                .map_err(EmbeddedError::CreateDatabase)?;
        }
        conn.close().await.map_err(EmbeddedError::CreateDatabase)
    }

    /// Stops the cluster, letting open transactions roll back (`pg_ctl stop -m fast`).
    pub fn stop(&self) -> Result<()> {
        self.run(
            "stopping PostgreSQL (pg_ctl stop)",
            self.pg_ctl("stop")
                .args(["-m", "fast", "-w", "-t", "120", "-s"]),
        )?;
        tracing::info!(cluster = %self.cluster_dir.display(), "embedded PostgreSQL stopped");
        Ok(())
    }

    /// Stops the cluster if its postmaster runs; one that died is left as it is (its stale
    /// `postmaster.pid` is recovered at the next start).
    pub(crate) fn stop_if_running(&self) -> Result<()> {
        if self.postmaster_alive()? {
            return self.stop();
        }
        tracing::warn!(cluster = %self.cluster_dir.display(), "embedded PostgreSQL was not running at exit; nothing to stop");
        Ok(())
    }

    /// Whether the postmaster of `postmaster.pid` runs: from `/proc` where there is one (a
    /// killed postmaster nobody reaped counts as dead), else by asking `pg_ctl status`.
    fn postmaster_alive(&self) -> Result<bool> {
        if !Path::new("/proc/self").exists() {
            return self.is_running();
        }
        Ok(self
            .postmaster_pid()
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)))
    }

    /// The last line of the cluster's server log, which says why it stopped when it knew.
    fn last_logged_line(&self) -> Option<String> {
        let mut log = File::open(self.cluster_dir.join("server.log")).ok()?;
        let length = log.seek(SeekFrom::End(0)).ok()?;
        log.seek(SeekFrom::Start(length.saturating_sub(4096)))
            .ok()?;
        let mut tail = Vec::new();
        log.read_to_end(&mut tail).ok()?;
        let tail = String::from_utf8_lossy(&tail);
        tail.lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map(|line| line.trim().to_owned())
    }

    fn is_running(&self) -> Result<bool> {
        let output = self
            .pg_ctl("status")
            .output()
            .map_err(io_error("running pg_ctl status"))?;
        Ok(output.status.success())
    }

    /// A killed postmaster that its parent has not reaped yet (a zombie) still exists for
    /// `kill(pid, 0)`, so `pg_ctl` and PostgreSQL itself would take its lock files for a live
    /// server's and refuse to start. Such a process holds nothing any more: drop its locks.
    /// (Seen where PID 1 does not reap orphans, as in many containers.)
    fn remove_locks_of_unreaped_postmaster(&self) -> Result<()> {
        let Some(pid) = self.postmaster_pid().filter(|pid| is_zombie(*pid)) else {
            return Ok(());
        };
        tracing::warn!(
            pid,
            "removing the lock files of a killed PostgreSQL that was not reaped"
        );
        let socket = self.socket_dir.join(format!(".s.PGSQL.{PORT}"));
        let socket_lock = self.socket_dir.join(format!(".s.PGSQL.{PORT}.lock"));
        for file in [self.cluster_dir.join("postmaster.pid"), socket_lock, socket] {
            match fs::remove_file(&file) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    return Err(io_error(format!("removing {}", file.display()))(error));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn initialise_if_needed(&self) -> Result<()> {
        if self.cluster_dir.join("PG_VERSION").exists() {
            return Ok(());
        }
        if self.cluster_dir.exists() {
            let empty = fs::read_dir(&self.cluster_dir)
                .map_err(io_error(format!("reading {}", self.cluster_dir.display())))?
                .next()
                .is_none();
            if !empty {
                return Err(EmbeddedError::NotACluster(self.cluster_dir.clone()));
            }
            fs::remove_dir(&self.cluster_dir)
                .map_err(io_error(format!("removing {}", self.cluster_dir.display())))?;
        }
        // initdb into a side directory and rename it into place, so an interrupted first run
        // leaves nothing that looks like a cluster.
        let staging = self.data_dir.join("postgres.initdb");
        if staging.exists() {
            fs::remove_dir_all(&staging)
                .map_err(io_error(format!("removing {}", staging.display())))?;
        }
        self.create_private_dir(&staging)?;
        let started = Instant::now();
        let mut initdb = self.command("initdb");
        initdb
            .arg("-D")
            .arg(&staging)
            .args(["-U", DATABASE, "--auth-local=trust", "--auth-host=reject"])
            .args(["-E", "UTF8", "--locale=C"]);
        if !self.durable {
            initdb.arg("--no-sync");
        }
        self.run("creating the PostgreSQL cluster (initdb)", &mut initdb)?;
        let conf = staging.join("postgresql.conf");
        let mut settings =
            fs::read_to_string(&conf).map_err(io_error(format!("reading {}", conf.display())))?;
        settings.push_str(&format!(
            "\n# Lyrebird's own settings, rewritten at every start.\ninclude_if_exists = '{SETTINGS_FILE}'\n"
        ));
        fs::write(&conf, settings).map_err(io_error(format!("writing {}", conf.display())))?;
        fs::rename(&staging, &self.cluster_dir).map_err(io_error(format!(
            "moving the new cluster to {}",
            self.cluster_dir.display()
        )))?;
        tracing::info!(
            cluster = %self.cluster_dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "PostgreSQL cluster created"
        );
        Ok(())
    }

    fn prepare_socket_dir(&self) -> Result<()> {
        if !self.socket_dir.starts_with(&self.data_dir) {
            tracing::info!(
                socket_dir = %self.socket_dir.display(),
                "the data directory's path is too long for a Unix socket; using a short one"
            );
        }
        self.create_private_dir(&self.socket_dir)
    }

    fn write_settings(&self) -> Result<()> {
        let mut settings = format!(
            "# Written by lyrebird at every start; settings here override postgresql.conf.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = '{}'\n\
             unix_socket_permissions = 0700\n",
            self.socket_dir.display().to_string().replace('\'', "''")
        );
        if !self.durable {
            settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let path = self.cluster_dir.join(SETTINGS_FILE);
        fs::write(&path, settings).map_err(io_error(format!("writing {}", path.display())))
    }

    /// A directory only the cluster's user may enter.
    fn create_private_dir(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid)).map_err(io_error(
                format!("giving {} to {}", dir.display(), user.name),
            ))?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error(format!("restricting {}", dir.display())))
    }

    fn pg_ctl(&self, action: &str) -> Command {
        let mut command = self.command("pg_ctl");
        command.arg(action).arg("-D").arg(&self.cluster_dir);
        command
    }

    /// A PostgreSQL program, run as the cluster's user, from a directory that user can enter.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command
            .current_dir("/")
            .env_remove("PGDATA")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .stdin(Stdio::null());
        if let Some(user) = &self.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        command
    }

    fn run(&self, action: &'static str, command: &mut Command) -> Result<Output> {
        let output = command.output().map_err(io_error(format!(
            "{action}: running {:?}",
            command.get_program()
        )))?;
        if output.status.success() {
            return Ok(output);
        }
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        let log = self.cluster_dir.join("server.log");
        Err(EmbeddedError::Program {
            action,
            status: output.status,
            output: format!("{} (server log: {})", text.trim(), log.display()),
        })
    }
}

/// A cluster this process runs, restarts when it dies, and stops, and that no other lyrebird
/// process may use meanwhile.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    cluster: Cluster,
    supervisor: Supervisor,
    /// Held until the process ends (the OS releases it even on `kill -9`).
    _lock: File,
}

impl EmbeddedPostgres {
    /// Creates or reuses the cluster, starts it (or adopts one a crashed server left running)
    /// and creates the server's database on first run.
    pub async fn start(options: &EmbeddedOptions) -> Result<Self> {
        let cluster = Cluster::locate(options)?;
        let lock = open_lock_file(&cluster.data_dir)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(EmbeddedError::InUse(cluster.data_dir.clone()));
            }
            Err(TryLockError::Error(source)) => {
                return Err(io_error("locking the data directory")(source));
            }
        }
        let prepared = cluster.clone();
        blocking("starting PostgreSQL", move || prepared.prepare()).await?;
        cluster.create_database_if_missing(DATABASE).await?;
        Ok(Self {
            supervisor: Supervisor::start(cluster.clone()),
            cluster,
            _lock: lock,
        })
    }

    /// How the server connects to its database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.cluster.connect_options(DATABASE)
    }

    /// Stops supervising the cluster, then stops it cleanly (if it runs); the data directory is
    /// free for another process afterwards.
    pub async fn stop(self) -> Result<()> {
        self.supervisor.stop().await;
        let cluster = self.cluster.clone();
        blocking("stopping PostgreSQL", move || cluster.stop_if_running()).await
    }
}

/// The task that restarts the cluster when its postmaster dies. Dropping it stops the task
/// too, at its next look.
#[derive(Debug)]
struct Supervisor {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Supervisor {
    fn start(cluster: Cluster) -> Self {
        let (stop, stopped) = oneshot::channel();
        Self {
            stop,
            task: tokio::spawn(supervise(cluster, stopped)),
        }
    }

    /// Ends the task, after a restart it is running if any.
    async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the embedded PostgreSQL supervisor failed");
        }
    }
}

/// Watches the postmaster and restarts the cluster when it died, until told to stop.
async fn supervise(cluster: Cluster, mut stop: oneshot::Receiver<()>) {
    let mut delay = FIRST_RESTART_DELAY;
    let mut last_restart: Option<Instant> = None;
    loop {
        let pid = loop {
            if !wait(&mut stop, WATCH_EVERY).await {
                return;
            }
            let watched = cluster.clone();
            let pid = watched.postmaster_pid();
            let alive = blocking("watching PostgreSQL", move || watched.postmaster_alive());
            match alive.await {
                Ok(true) => {}
                Ok(false) => break pid,
                Err(error) => {
                    tracing::warn!(%error, "cannot tell whether the embedded PostgreSQL runs");
                }
            }
        };
        let down_since = Instant::now();
        tracing::warn!(
            pid,
            cause = "its postmaster process is gone: killed, or crashed",
            server_log = cluster.last_logged_line().as_deref().unwrap_or("(empty)"),
            "embedded PostgreSQL died; restarting it"
        );
        if last_restart.is_some_and(|at| at.elapsed() < STABLE_AFTER) {
            tracing::warn!(
                delay_s = delay.as_secs(),
                "embedded PostgreSQL died again within a minute of its restart; backing off before restarting it"
            );
            if !wait(&mut stop, delay).await {
                return;
            }
            delay = (delay * 2).min(LAST_RESTART_DELAY);
        } else {
            delay = FIRST_RESTART_DELAY;
        }
        loop {
            let restarted = cluster.clone();
            match blocking("restarting PostgreSQL", move || restarted.prepare()).await {
                Ok(_) => {
                    tracing::warn!(
                        down_ms = down_since.elapsed().as_millis() as u64,
                        "embedded PostgreSQL restarted after it died"
                    );
                    last_restart = Some(Instant::now());
                    break;
                }
                Err(error) => {
                    tracing::error!(
                        %error,
                        retry_in_s = delay.as_secs(),
                        "restarting the embedded PostgreSQL failed; backing off before trying again"
                    );
                    if !wait(&mut stop, delay).await {
                        return;
                    }
                    delay = (delay * 2).min(LAST_RESTART_DELAY);
                }
            }
        }
    }
}

/// Runs one of the cluster's synchronous steps on a blocking thread.
async fn blocking<T: Send + 'static>(
    action: &'static str,
    step: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|e| io_error(action)(io::Error::other(e)))?
}

/// Waits `how_long`; `false` when told to stop (or the supervisor was dropped) meanwhile.
async fn wait(stop: &mut oneshot::Receiver<()>, how_long: Duration) -> bool {
    tokio::select! {
        _ = stop => false,
        () = tokio::time::sleep(how_long) => true,
    }
}

pub(crate) fn open_lock_file(data_dir: &Path) -> Result<File> {
    let path = data_dir.join("lyrebird.lock");
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error(format!("opening {}", path.display())))
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: the first on `PATH` that has all
/// three, else the highest version under `search_dir`.
fn find_programs(path_var: Option<&OsStr>, search_dir: &Path) -> Result<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|program| dir.join(program).is_file())
    };
    let on_path = path_var
        .map(|path| std::env::split_paths(path).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|dir| has_all(dir)) {
        // pg_ctl finds `postgres` next to its own real path, so resolve links such as
        // /usr/local/bin/pg_ctl -> /usr/lib/postgresql/16/bin/pg_ctl.
        let real = dir.join("pg_ctl").canonicalize().ok();
        return Ok(real
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|real_dir| has_all(real_dir))
            .unwrap_or(dir));
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(search_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| EmbeddedError::ProgramsMissing(search_dir.to_path_buf()))
}

/// Whether this process runs with root's privileges (read from `/proc`, so no unsafe FFI; on
/// systems without `/proc` we assume not).
fn effective_uid_is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uids = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))?
                .to_owned();
            uids.split_whitespace().nth(1).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Whether `pid` is a process that has ended but not been reaped (Linux `/proc`).
fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

fn system_user(name: &str) -> Option<SystemUser> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4 && fields[0] == name).then_some(())?;
        Some(SystemUser {
            name: name.to_owned(),
            uid: fields[2].parse().ok()?,
            gid: fields[3].parse().ok()?,
        })
    })
}

/// Fails when `user` cannot enter `dir` or one of its parents.
fn check_reachable(dir: &Path, user: &SystemUser) -> Result<()> {
    for ancestor in dir.ancestors() {
        let meta =
            fs::metadata(ancestor).map_err(io_error(format!("reading {}", ancestor.display())))?;
        let mode = meta.mode();
        let searchable = if meta.uid() == user.uid {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !searchable {
            return Err(EmbeddedError::Unreachable {
                dir: ancestor.to_path_buf(),
                user: user.name.clone(),
            });
        }
    }
    Ok(())
}

/// `<data-dir>/socket`, or a short directory in `/tmp` named after the data directory when that
/// path would be too long for a Unix socket.
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let preferred = data_dir.join("socket");
    let socket_file_len = format!("/.s.PGSQL.{PORT}.lock").len();
    if preferred.as_os_str().len() + socket_file_len <= MAX_SOCKET_PATH {
        return preferred;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("lyrebird-{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_data_directories_get_a_short_socket_directory() {
        let long = PathBuf::from(format!("/tmp/{}", "d".repeat(120)));
        let socket_dir = socket_dir_for(&long);
        assert!(!socket_dir.starts_with(&long));
        assert!(socket_dir.as_os_str().len() + 20 <= MAX_SOCKET_PATH);
        assert_eq!(
            socket_dir_for(&long),
            socket_dir,
            "the same directory every time"
        );
        assert_eq!(
            socket_dir_for(Path::new("/srv/lb")),
            Path::new("/srv/lb/socket")
        );
    }

    #[test]
    fn a_search_dir_without_postgres_names_what_to_install() {
        let error = find_programs(None, Path::new("/nonexistent")).unwrap_err();
        assert!(error.to_string().contains("apt-get install postgresql"));
        assert!(!error.to_string().contains('\n'), "one line");
    }

    #[test]
    fn the_highest_installed_version_is_chosen() {
        let root = std::env::temp_dir().join(format!("lyrebird-pg-search-{}", std::process::id()));
        for version in ["9.6", "15", "16"] {
            let bin = root.join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            for program in ["initdb", "pg_ctl", "postgres"] {
                fs::write(bin.join(program), "").unwrap();
            }
        }
        let found = find_programs(None, &root);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(found.unwrap(), root.join("16").join("bin"));
    }
}
