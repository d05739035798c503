//! The call log's blocks: how calls are grouped into `call_blocks` rows, encoded, decoded, and
//! read back newest first.
//!
//! A block holds calls of one mock and one month, a thousand at most (the writer's batch) and
//! about [`BLOCK_BYTES`] of text. The server writes format 3: each call as what changed since
//! the block's previous call ([`crate::delta`]), compressed with LZ4 (its size first, as
//! `lz4_flex` writes it). Earlier formats are still read: format 1 is the calls one after
//! another, each whole in postcard's binary form of [`NewCall`] (its field order is the format),
//! compressed likewise; format 2 is format 1 with each call followed by the mock's version that
//! answered it (a postcard varint); format 0 is a JSON array of the fields of format 1, made by
//! the migration that moved the rows of the old `calls` table into blocks.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use foldhash::fast::FixedState;
use sqlx::{PgPool, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::calls::{CallPosition, NewCall};
use crate::delta;
use crate::error::{Result, StoreError};
use crate::ids::{MockId, WorkspaceId};
use crate::search::{BlockText, UNINDEXED};
use crate::workspace::Workspace;

/// A block is closed once its calls hold this many bytes of text ([`delta::size`], the call
/// that crosses it included).
pub(crate) const BLOCK_BYTES: usize = 1 << 20;
/// The most a block may say it holds, uncompressed, or rebuild: more than any block the writer
/// makes (a block's calls plus one with two bodies at the largest body cap), so a damaged block
/// cannot ask for all the memory.
const MAX_BLOCK_BYTES: usize = 1 << 30;

const JSON: i16 = 0;
const POSTCARD_LZ4: i16 = 1;
const POSTCARD_LZ4_VERSIONED: i16 = 2;
const CHANGES_LZ4: i16 = 3;

/// A block ready to insert (its calls not yet compressed).
#[derive(Debug)]
pub(crate) struct NewBlock {
    pub id: Uuid,
    pub workspace_id: WorkspaceId,
    pub mock_id: MockId,
    pub first_at: OffsetDateTime,
    pub last_at: OffsetDateTime,
    pub answered: i32,
    pub call_ids: Vec<Uuid>,
    /// The calls, each as what changed since the one before.
    pub calls: Vec<u8>,
    /// The last call written, which the next one is written against.
    previous: NewCall,
    /// The bytes of text its calls hold.
    size: usize,
    /// The trigrams of the calls' searched text.
    text: BlockText,
}

impl NewBlock {
    /// The format of the blocks the server writes.
    pub(crate) const FORMAT: i16 = CHANGES_LZ4;

    fn start(call: &NewCall) -> Self {
        Self {
            id: call.id,
            workspace_id: call.workspace_id,
            mock_id: call.mock_id,
            first_at: call.at,
            last_at: call.at,
            answered: 0,
            call_ids: Vec::new(),
            calls: Vec::with_capacity(BLOCK_BYTES / 64),
            previous: delta::empty(call.workspace_id, call.mock_id),
            size: 0,
            text: BlockText::default(),
        }
    }

    /// The block's `trigrams` (see [`crate::search`]).
    pub(crate) fn trigrams(&self) -> Vec<i32> {
        self.text.keys()
    }

    /// The block's calls as stored: compressed with LZ4, their size first.
    pub(crate) fn compressed(&self) -> Vec<u8> {
        lz4_flex::compress_prepend_size(&self.calls)
    }

    fn push(&mut self, call: NewCall) -> Result<()> {
        delta::encode(&self.previous, &call, &mut self.calls, &mut self.text).map_err(|error| {
            StoreError::CallBlock {
                block: call.id,
                reason: error.to_string(),
            }
        })?;
        self.first_at = self.first_at.min(call.at);
        self.last_at = self.last_at.max(call.at);
        self.answered += i32::from(call.outcome.counts_against_quota());
        self.call_ids.push(call.id);
        self.size += delta::size(&call);
        self.previous = call;
        Ok(())
    }
}

fn month(at: OffsetDateTime) -> (i32, time::Month) {
    let at = at.to_offset(time::UtcOffset::UTC);
    (at.year(), at.month())
}

/// Calls grouped into blocks as they come: calls of one mock and month go together, in the
/// order they came. The same calls always make the same blocks, with the same ids. The
/// call-log writer adds each call as it takes it off the queue, while its parts are still in
/// the CPU's caches.
#[derive(Debug, Default)]
pub struct CallBlocks {
    blocks: Vec<NewBlock>,
    /// The block each mock and month is filling, by position in `blocks`.
    filling: HashMap<(WorkspaceId, MockId, (i32, time::Month)), usize, FixedState>,
    calls: usize,
}

impl CallBlocks {
    /// Adds a call to its block. Fails, adding nothing, if the call cannot be encoded.
    pub fn push(&mut self, call: NewCall) -> Result<()> {
        let key = (call.workspace_id, call.mock_id, month(call.at));
        let index = match self.filling.get(&key) {
            Some(&index) if self.blocks[index].size < BLOCK_BYTES => index,
            _ => {
                self.blocks.push(NewBlock::start(&call));
                self.filling.insert(key, self.blocks.len() - 1);
                self.blocks.len() - 1
            }
        };
        self.blocks[index].push(call)?;
        self.calls += 1;
        Ok(())
    }

    /// How many calls the blocks hold.
    pub fn len(&self) -> usize {
        self.calls
    }

    pub fn is_empty(&self) -> bool {
        self.calls == 0
    }

    pub(crate) fn blocks(&self) -> &[NewBlock] {
        &self.blocks
    }
}

/// The calls of a stored block, in its order, with the block's workspace and mock.
pub(crate) fn decode(
    block: Uuid,
    format: i16,
    bytes: &[u8],
    workspace_id: WorkspaceId,
    mock_id: MockId,
) -> Result<Vec<NewCall>> {
    let failed = |reason: String| StoreError::CallBlock { block, reason };
    let mut calls = match format {
        JSON => serde_json::from_slice(bytes).map_err(|error| failed(error.to_string()))?,
        CHANGES_LZ4 => {
            let bytes = decompressed(bytes).map_err(failed)?;
            delta::decode(&bytes, workspace_id, mock_id, MAX_BLOCK_BYTES).map_err(failed)?
        }
        POSTCARD_LZ4 | POSTCARD_LZ4_VERSIONED => {
            let bytes = decompressed(bytes).map_err(failed)?;
            let mut calls = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let (mut call, after): (NewCall, _) =
                    postcard::take_from_bytes(rest).map_err(|error| failed(error.to_string()))?;
                rest = after;
                if format == POSTCARD_LZ4_VERSIONED {
                    (call.version, rest) = postcard::take_from_bytes(rest)
                        .map_err(|error| failed(error.to_string()))?;
                }
                calls.push(call);
            }
            calls
        }
        other => return Err(failed(format!("unknown format {other}"))),
    };
    for call in &mut calls {
        call.workspace_id = workspace_id;
        call.mock_id = mock_id;
    }
    Ok(calls)
}

/// A block's bytes as LZ4 compressed them, their size first; a size past [`MAX_BLOCK_BYTES`] is
/// refused before anything is allocated for it.
fn decompressed(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let size = bytes
        .first_chunk::<4>()
        .map_or(0, |size| u32::from_le_bytes(*size) as usize);
    if size > MAX_BLOCK_BYTES {
        return Err(format!("says it holds {size} bytes"));
    }
    lz4_flex::decompress_size_prepended(bytes).map_err(|error| error.to_string())
}

/// Which blocks a scan reads: one mock's, those that may hold calls in the time range, older
/// than a position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanRange {
    /// Inclusive.
    pub from: Option<OffsetDateTime>,
    /// Exclusive.
    pub to: Option<OffsetDateTime>,
    /// Only calls strictly older than this.
    pub before: Option<CallPosition>,
}

impl ScanRange {
    fn holds(&self, call: &NewCall) -> bool {
        self.from.is_none_or(|from| call.at >= from)
            && self.to.is_none_or(|to| call.at < to)
            && self
                .before
                .is_none_or(|before| (call.at, call.id) < (before.at, before.id))
    }
}

/// A block's place in the newest-first order, before its calls are read.
struct BlockHead {
    id: Uuid,
    first_at: OffsetDateTime,
    last_at: OffsetDateTime,
}

/// How a search for text fetches the heads of the blocks that may hold it: through the indexes'
/// bitmaps (the GIN index of the trigram sets, the mock's index), never by reading each block.
const BITMAP_SCANS_ONLY: &str =
    "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off";

/// Blocks whose heads are fetched at once.
const HEADS_PER_QUERY: i64 = 64;

/// A mock's calls in the range, newest first (by time, then id), read block by block.
///
/// Blocks of one mock may overlap in time (two servers write at once), so a call is handed out
/// only once every block that could hold a newer one has been read: blocks come in order of
/// their newest call, and are read while the next one's newest call is at least as new as the
/// best call read so far.
pub(crate) struct Scan<'a> {
    store: &'a Store,
    workspace_id: WorkspaceId,
    mock_id: MockId,
    range: ScanRange,
    /// When set, only blocks that may hold a search's text are read: those whose trigrams hold
    /// every key of one of these sets (one per side searched), or are not known.
    text: Option<Vec<Vec<i32>>>,
    heads: VecDeque<BlockHead>,
    /// Where the next query for heads goes on: after this block (newest first).
    heads_after: Option<(OffsetDateTime, Uuid)>,
    heads_done: bool,
    calls: BinaryHeap<Newest>,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(
        store: &'a Store,
        workspace: &Workspace,
        mock: MockId,
        range: ScanRange,
    ) -> Self {
        Self {
            store,
            workspace_id: workspace.id(),
            mock_id: mock,
            range,
            text: None,
            heads: VecDeque::new(),
            heads_after: None,
            heads_done: false,
            calls: BinaryHeap::new(),
        }
    }

    /// Reads only the blocks that may hold text with these trigram keys
    /// ([`crate::search::needle_keys`]); the calls of the others are never handed out.
    pub(crate) fn only_blocks_with(mut self, keys: Option<Vec<Vec<i32>>>) -> Self {
        self.text = keys;
        self
    }

    /// The next call, newest first; `None` after the oldest.
    pub(crate) async fn next(&mut self) -> Result<Option<NewCall>> {
        loop {
            if self.heads.is_empty() && !self.heads_done {
                self.fetch_heads().await?;
            }
            let read_next_block = match (self.heads.front(), self.calls.peek()) {
                (Some(head), Some(best)) => head.last_at >= best.0.at,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !read_next_block {
                return Ok(self.calls.pop().map(|newest| newest.0));
            }
            let head = self.heads.pop_front().expect("a head was just looked at");
            self.read(head).await?;
        }
    }

    async fn fetch_heads(&mut self) -> Result<()> {
        let mut query = QueryBuilder::new(
            "SELECT id, first_at, last_at FROM call_blocks WHERE workspace_id = ",
        );
        query.push_bind(self.workspace_id);
        query.push(" AND mock_id = ").push_bind(self.mock_id);
        if let Some(from) = self.range.from {
            query.push(" AND last_at >= ").push_bind(from);
        }
        if let Some(to) = self.range.to {
            query.push(" AND first_at < ").push_bind(to);
        }
        if let Some(before) = self.range.before {
            query.push(" AND first_at <= ").push_bind(before.at);
        }
        if let Some(sides) = &self.text {
            query.push(" AND (trigrams @> ").push_bind(vec![UNINDEXED]);
            for keys in sides {
                query.push(" OR trigrams @> ").push_bind(keys.clone());
            }
            query.push(")");
        }
        if let Some((last_at, id)) = self.heads_after {
            query.push(" AND (last_at, id) < (").push_bind(last_at);
            query.push(", ").push_bind(id).push(")");
        }
        query
            .push(" ORDER BY last_at DESC, id DESC LIMIT ")
            .push_bind(HEADS_PER_QUERY);
        let heads: Vec<(Uuid, OffsetDateTime, OffsetDateTime)> = if self.text.is_some() {
            // The trigram sets are stored out of line, and PostgreSQL does not count what reading
            // them costs: it would read every block's set rather than look in the GIN index.
            let mut tx = self.store.begin_with(Some(BITMAP_SCANS_ONLY)).await?;
            let heads = query.build_query_as().fetch_all(&mut *tx).await?;
            tx.commit().await?;
            heads
        } else {
            query.build_query_as().fetch_all(self.store.pool()).await?
        };
        self.heads_done = heads.len() < HEADS_PER_QUERY as usize;
        self.heads_after = heads.last().map(|(id, _, last_at)| (*last_at, *id));
        self.heads
            .extend(heads.into_iter().map(|(id, first_at, last_at)| BlockHead {
                id,
                first_at,
                last_at,
            }));
        Ok(())
    }

    async fn read(&mut self, head: BlockHead) -> Result<()> {
        let calls = read_block(
            self.store.pool(),
            head.id,
            head.first_at,
            self.workspace_id,
            self.mock_id,
        )
        .await?;
        self.calls.extend(
            calls
                .into_iter()
                .filter(|call| self.range.holds(call))
                .map(Newest),
        );
        Ok(())
    }
}

/// The calls of one block; none when it is gone (cleared, or removed by the retention).
pub(crate) async fn read_block(
    pool: &PgPool,
    id: Uuid,
    first_at: OffsetDateTime,
    workspace: WorkspaceId,
    mock: MockId,
) -> Result<Vec<NewCall>> {
    let row: Option<(i16, Vec<u8>)> = sqlx::query_as(
        "SELECT format, calls FROM call_blocks \
         WHERE id = $1 AND first_at = $2 AND workspace_id = $3 AND mock_id = $4",
    )
    .bind(id)
    .bind(first_at)
    .bind(workspace)
    .bind(mock)
    .fetch_optional(pool)
    .await?;
    match row {
        Some((format, bytes)) => decode(id, format, &bytes, workspace, mock),
        None => Ok(Vec::new()),
    }
}

/// A call ordered by (time, id), for the max-heap of a scan.
struct Newest(NewCall);

impl Ord for Newest {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0.at, self.0.id).cmp(&(other.0.at, other.0.id))
    }
}

impl PartialOrd for Newest {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Newest {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Newest {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::StoredBody;
    use crate::testing::encoded;

    fn call(mock: MockId, at: OffsetDateTime, body: &str) -> NewCall {
        let body = StoredBody {
            text: body.to_owned(),
            base64: false,
            size: body.len() as u64,
        };
        NewCall {
            request_headers: vec![("accept".into(), "*/*".into())],
            request_body: body.clone(),
            response_body: body,
            ..crate::testing::call(WorkspaceId::generate(), mock, at)
        }
    }

    #[test]
    fn a_batch_makes_one_block_per_mock_and_month_and_the_same_blocks_every_time() {
        let (orders, users) = (MockId::generate(), MockId::generate());
        let november = time::macros::datetime!(2026-11-30 23:59:59 UTC);
        let december = time::macros::datetime!(2026-12-01 00:00:01 UTC);
        let mut calls = vec![
            call(orders, november, "a"),
            call(users, november, "b"),
            call(orders, december, "c"),
            call(orders, november, "d"),
        ];
        let workspace = calls[0].workspace_id;
        for call in &mut calls {
            call.workspace_id = workspace;
        }
        let blocks = encoded(&calls);
        let blocks = blocks.blocks();
        let shape: Vec<(MockId, Vec<Uuid>)> = blocks
            .iter()
            .map(|block| (block.mock_id, block.call_ids.clone()))
            .collect();
        assert_eq!(
            shape,
            [
                (orders, vec![calls[0].id, calls[3].id]),
                (users, vec![calls[1].id]),
                (orders, vec![calls[2].id]),
            ]
        );
        let ids: Vec<Uuid> = blocks.iter().map(|block| block.id).collect();
        let again: Vec<Uuid> = encoded(&calls).blocks().iter().map(|b| b.id).collect();
        assert_eq!(ids, again);
    }

    #[test]
    fn a_block_closes_once_its_calls_pass_the_size_limit() {
        let mock = MockId::generate();
        let at = OffsetDateTime::now_utc();
        let big = "x".repeat(BLOCK_BYTES / 4);
        let workspace = WorkspaceId::generate();
        let calls: Vec<NewCall> = (0..3)
            .map(|_| NewCall {
                workspace_id: workspace,
                ..call(mock, at, &big)
            })
            .collect();
        let sizes: Vec<usize> = encoded(&calls)
            .blocks()
            .iter()
            .map(|block| block.call_ids.len())
            .collect();
        // Each call holds two bodies: two calls pass the limit, the third opens a block.
        assert_eq!(sizes, [2, 1]);
    }

    #[test]
    fn blocks_of_the_earlier_formats_read_as_they_were_written() {
        let mock = MockId::generate();
        let mut written = call(mock, OffsetDateTime::now_utc(), "{\"id\": 1}");
        written.at = written.at.replace_nanosecond(5_000).unwrap();
        written.version = 7;
        let whole = postcard::to_allocvec(&written).unwrap();
        let versioned = [whole.clone(), postcard::to_allocvec(&7u32).unwrap()].concat();
        for (format, bytes, version) in [
            (POSTCARD_LZ4, whole, 0),
            (POSTCARD_LZ4_VERSIONED, versioned, 7),
        ] {
            let stored = lz4_flex::compress_prepend_size(&[bytes.clone(), bytes].concat());
            let read = decode(Uuid::nil(), format, &stored, written.workspace_id, mock).unwrap();
            let expected = NewCall {
                version,
                ..written.clone()
            };
            assert_eq!(format!("{read:?}"), format!("{:?}", [&expected, &expected]));
        }
    }

    #[test]
    fn calls_read_back_from_a_block_as_they_were_written() {
        let mock = MockId::generate();
        let mut written = call(mock, OffsetDateTime::now_utc(), "{\"id\": 1}");
        written.at = written.at.replace_nanosecond(123_456_000).unwrap();
        written.client_addr = Some("2001:db8::7".parse().unwrap());
        written.explanation = Some(serde_json::value::to_raw_value(&[1, 2]).unwrap());
        let blocks = encoded(std::slice::from_ref(&written));
        let block = &blocks.blocks()[0];
        let stored = block.compressed();
        let read = decode(
            block.id,
            NewBlock::FORMAT,
            &stored,
            written.workspace_id,
            mock,
        )
        .unwrap();
        assert_eq!(format!("{read:?}"), format!("{:?}", [written]));
        let torn = decode(
            block.id,
            NewBlock::FORMAT,
            &stored[..10],
            WorkspaceId::generate(),
            mock,
        );
        assert!(
            matches!(torn, Err(StoreError::CallBlock { .. })),
            "{torn:?}"
        );
        // A damaged size is refused before anything is allocated for it.
        let huge = [0xff, 0xff, 0xff, 0xff, 0];
        let huge = decode(
            block.id,
            NewBlock::FORMAT,
            &huge,
            WorkspaceId::generate(),
            mock,
        );
        assert!(
            matches!(&huge, Err(StoreError::CallBlock { reason, .. }) if reason.contains("says")),
            "{huge:?}"
        );
    }
}
