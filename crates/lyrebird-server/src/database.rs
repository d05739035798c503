//! Finding the database the server uses: `DATABASE_URL`'s server, or the embedded PostgreSQL
//! cluster in the data directory. Shared by `lyrebird serve` and the operator's commands, so both
//! always reach the same data.

use anyhow::Context;
use lyrebird_store::Store;
use lyrebird_store::embedded::{
    Cluster, DATABASE, EmbeddedError, EmbeddedOptions, EmbeddedPostgres,
};

use crate::config::ServeArgs;

/// Whether a cluster already running on the data directory (a server's) may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Running {
    /// Use it and leave it running: a one-off command next to a live server.
    Share,
    /// Refuse: two servers on one data directory would fight over it.
    Refuse,
}

/// The connected store, and the embedded cluster when this call started it: the caller stops it
/// after closing the store. A cluster started here is stopped again if connecting fails, so an
/// error never leaves a PostgreSQL behind.
pub(crate) async fn open(
    args: &ServeArgs,
    running: Running,
) -> anyhow::Result<(Store, Option<EmbeddedPostgres>)> {
    if let Some(given) = &args.database_url {
        let url = given.parse().map_err(anyhow::Error::msg)?;
        tracing::info!(database = %url, "using the PostgreSQL server of DATABASE_URL");
        let store = Store::connect(url.connect_options())
            .await
            .with_context(|| format!("connecting to {url}"))?;
        return Ok((store, None));
    }
    let options = EmbeddedOptions {
        search_dir: args.pg_search_dir.clone(),
        ..EmbeddedOptions::new(&args.data_dir)
    };
    match EmbeddedPostgres::start(&options).await {
        Ok(postgres) => match Store::connect(postgres.connect_options()).await {
            Ok(store) => Ok((store, Some(postgres))),
            Err(error) => {
                postgres.stop().await?;
                Err(error).context("connecting to the embedded PostgreSQL")
            }
        },
        Err(EmbeddedError::InUse(_)) if running == Running::Share => {
            let cluster = Cluster::locate(&options)?;
            let store = Store::connect(cluster.connect_options(DATABASE))
                .await
                .context("connecting to the running embedded PostgreSQL")?;
            Ok((store, None))
        }
        Err(error) => Err(error.into()),
    }
}
