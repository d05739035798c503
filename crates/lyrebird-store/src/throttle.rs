//! Failed log-ins, counted in PostgreSQL so that every server on the database counts them
//! together (the policy, how many are free and how long to wait, is the server's:
//! `crates/lyrebird-server/src/auth/throttle.rs`). Times are the database's clock, which every
//! server reads alike.

use sqlx::PgConnection;
use sqlx::postgres::types::PgInterval;
use time::OffsetDateTime;

use crate::Store;
use crate::error::Result;

/// A subject's failures, as counted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// How long ago the last failure was; zero for a subject with none.
    pub since_last: time::Duration,
}

/// Locks the subjects' rows, in one order on every server so that two attempts never wait for
/// each other, and reads each one's failures and how long ago the last was.
async fn lock(
    conn: &mut PgConnection,
    subjects: &[String],
) -> Result<Vec<(String, i32, PgInterval)>> {
    Ok(sqlx::query_as(
        "SELECT subject, failures, clock_timestamp() - last_at FROM login_failures \
         WHERE subject = ANY($1) ORDER BY subject FOR UPDATE",
    )
    .bind(subjects)
    .fetch_all(conn)
    .await?)
}

fn duration(interval: &PgInterval) -> time::Duration {
    time::Duration::days(i64::from(interval.days))
        + time::Duration::microseconds(interval.microseconds)
}

impl Store {
    /// Counts an attempt of every subject as a failure, unless `wait` (given their failures so
    /// far, in the order of `subjects`) says how many seconds they must wait first: then nothing
    /// is counted. The subjects' rows stay locked from the read to the count, so attempts on
    /// several servers at once are counted one after the other. A count whose last failure is
    /// older than `forget_after` starts again from 0.
    pub async fn count_attempt(
        &self,
        subjects: &[String],
        forget_after: time::Duration,
        wait: impl FnOnce(&[Failures]) -> Option<u64>,
    ) -> Result<std::result::Result<(), u64>> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO login_failures (subject) SELECT unnest($1::text[]) \
             ON CONFLICT (subject) DO NOTHING",
        )
        .bind(subjects)
        .execute(&mut *tx)
        .await?;
        let rows = lock(&mut tx, subjects).await?;
        let failures: Vec<Failures> = subjects
            .iter()
            .map(|subject| {
                let row = rows.iter().find(|(name, ..)| name == subject);
                match row.map(|(_, count, since)| (count, duration(since))) {
                    Some((count, since_last)) if since_last < forget_after => Failures {
                        count: u32::try_from(*count).unwrap_or(0),
                        since_last,
                    },
                    _ => Failures {
                        count: 0,
                        since_last: time::Duration::ZERO,
                    },
                }
            })
            .collect();
        if let Some(seconds) = wait(&failures) {
            tx.rollback().await?;
            return Ok(Err(seconds));
        }
        sqlx::query(
            "UPDATE login_failures SET \
               failures = CASE WHEN last_at < clock_timestamp() - $2 THEN 1 \
                               ELSE failures + 1 END, \
               last_at = clock_timestamp() \
             WHERE subject = ANY($1)",
        )
        .bind(subjects)
        .bind(forget_after)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Takes back an attempt counted by [`Store::count_attempt`]; `clear` loses its count
    /// entirely (a right password clears its email's). Locks the rows in the order
    /// [`Store::count_attempt`] does.
    pub async fn take_back_attempt(&self, subjects: &[String], clear: &[String]) -> Result<()> {
        let mut tx = self.begin().await?;
        let every: Vec<String> = subjects.iter().chain(clear).cloned().collect();
        lock(&mut tx, &every).await?;
        sqlx::query("DELETE FROM login_failures WHERE subject = ANY($1)")
            .bind(clear)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE login_failures SET failures = greatest(failures - 1, 0) \
             WHERE subject = ANY($1)",
        )
        .bind(subjects)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the counts without a failure since `before`.
    pub async fn forget_login_failures(&self, before: OffsetDateTime) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM login_failures WHERE last_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }
}
