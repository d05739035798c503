//! Rows in PostgreSQL's binary `COPY` format, for `COPY ... FROM STDIN (FORMAT binary)`.
//!
//! The call log is the one table written at the rate of mock calls, and `COPY` is PostgreSQL's
//! cheapest way in: no statement to plan, no arrays to build and take apart again, each value
//! in its binary form. The format (header, per row a field count, per field a length and the
//! bytes, a trailer) is in PostgreSQL's documentation of `COPY`, "Binary Format".

use std::net::IpAddr;

use serde::Serialize;
use sqlx::PgConnection;
use sqlx::postgres::PgCopyIn;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00 UTC.
const POSTGRES_EPOCH_US: i128 = 946_684_800_000_000;

/// `inet`'s address families in the binary format (PostgreSQL's `PGSQL_AF_INET[6]`).
const AF_INET: u8 = 2;
const AF_INET6: u8 = 3;

/// How much encoded data is sent at a time. One buffer of about this size serves a whole
/// batch: encoding a batch of a thousand calls into one growing buffer cost more in fresh pages
/// from the kernel than the encoding itself.
const CHUNK: usize = 64 * 1024;

/// Rows encoded into a buffer and sent to a `COPY ... FROM STDIN (FORMAT binary)` a chunk at a
/// time; each field is written in the binary form of its column's type.
pub(crate) struct CopyRows<'c> {
    copy: PgCopyIn<&'c mut PgConnection>,
    buf: Vec<u8>,
}

impl<'c> CopyRows<'c> {
    /// Starts `statement`, a `COPY ... FROM STDIN (FORMAT binary)`.
    pub(crate) async fn start(connection: &'c mut PgConnection, statement: &str) -> Result<Self> {
        let copy = connection.copy_in_raw(statement).await?;
        let mut buf = Vec::with_capacity(CHUNK + CHUNK / 4);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        // Flags, then the length of the header extension: none.
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        Ok(Self { copy, buf })
    }

    /// Starts a row of `fields` fields, after sending what the earlier rows filled.
    pub(crate) async fn row(&mut self, fields: i16) -> Result<()> {
        if self.buf.len() >= CHUNK {
            self.copy.send(self.buf.as_slice()).await?;
            self.buf.clear();
        }
        self.buf.extend_from_slice(&fields.to_be_bytes());
        Ok(())
    }

    /// Sends the rest with the trailer and ends the `COPY`.
    pub(crate) async fn finish(mut self) -> Result<()> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.copy.send(self.buf.as_slice()).await?;
        self.copy.finish().await?;
        Ok(())
    }

    fn field(&mut self, bytes: &[u8]) {
        self.length(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    fn length(&mut self, length: usize) {
        // A field is at most 1 GiB in PostgreSQL; bodies are capped far below.
        let length = i32::try_from(length).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&length.to_be_bytes());
    }

    pub(crate) fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    pub(crate) fn text(&mut self, value: &str) {
        self.field(value.as_bytes());
    }

    pub(crate) fn uuid(&mut self, value: Uuid) {
        self.field(value.as_bytes());
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.field(&[u8::from(value)]);
    }

    pub(crate) fn int2(&mut self, value: i16) {
        self.field(&value.to_be_bytes());
    }

    pub(crate) fn int4(&mut self, value: i32) {
        self.field(&value.to_be_bytes());
    }

    pub(crate) fn int8(&mut self, value: i64) {
        self.field(&value.to_be_bytes());
    }

    /// `timestamptz`: microseconds since PostgreSQL's epoch.
    pub(crate) fn timestamptz(&mut self, value: OffsetDateTime) {
        let us = value.unix_timestamp_nanos() / 1000 - POSTGRES_EPOCH_US;
        self.int8(i64::try_from(us).unwrap_or(i64::MAX));
    }

    pub(crate) fn inet(&mut self, value: IpAddr) {
        match value {
            IpAddr::V4(v4) => {
                self.length(8);
                self.buf.extend_from_slice(&[AF_INET, 32, 0, 4]);
                self.buf.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.length(20);
                self.buf.extend_from_slice(&[AF_INET6, 128, 0, 16]);
                self.buf.extend_from_slice(&v6.octets());
            }
        }
    }

    /// `json`: the value serialised straight into the buffer (its binary form is its text).
    pub(crate) fn json(&mut self, value: &impl Serialize) {
        let at = self.buf.len();
        self.length(0);
        let start = self.buf.len();
        if serde_json::to_writer(&mut self.buf, value).is_err() {
            // Only a map with keys that are not strings fails, and no caller has one; null
            // keeps the row rather than losing the batch.
            self.buf.truncate(start);
            self.buf.extend_from_slice(b"null");
        }
        let length = i32::try_from(self.buf.len() - start).unwrap_or(i32::MAX);
        self.buf[at..start].copy_from_slice(&length.to_be_bytes());
    }

    /// A nullable field: `write` for `Some`, NULL for `None`.
    pub(crate) fn nullable<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            Some(value) => write(self, value),
            None => self.null(),
        }
    }
}
