//! Format 3 of the call log's blocks: each call as what changed since the block's previous call
//! (the first call: since [`empty`]).
//!
//! Calls of one mock repeat most of what they hold: headers, bodies, the example and its reason.
//! Blocks of format 2 held each call whole and left the repeats to LZ4; the writer also read each
//! call back to find the text its index had not seen. In format 3 a call is, in order:
//!
//! - its id, 16 bytes;
//! - its time, as microseconds since the previous call's (postcard's signed varint);
//! - a mask (`u32`, little-endian) of the fields below that differ from the previous call's;
//! - each of those fields, in this order: text as the bytes between the start and the end it
//!   shares with the previous call's field (where they start and how many end bytes are
//!   shared, two varints, then the bytes between, their length first), a header list likewise
//!   by whole headers (the headers between in postcard's form), and any other field in
//!   postcard's form ([`NewCall`]'s serde).
//!
//! The writer compares each field with the previous call's as it writes it, so it hands the
//! text index ([`BlockText`]) only the part of each searched field that changed, and LZ4 then
//! compresses a small part of what it compressed before. Reading a block rebuilds each call
//! from the one before it, checking every length against what it refers to and that text is
//! UTF-8: damaged bytes are refused, never misread.

use std::ops::Range;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::calls::unix_micros::{from_micros, micros};
use crate::calls::{CallOutcomeKind, Header, NewCall, StoredBody};
use crate::ids::{MockId, WorkspaceId};
use crate::search::{BlockText, Side};

/// What the first call of a block is written against: every field empty, zero or absent.
pub(crate) fn empty(workspace_id: WorkspaceId, mock_id: MockId) -> NewCall {
    NewCall {
        id: Uuid::nil(),
        workspace_id,
        mock_id,
        at: OffsetDateTime::UNIX_EPOCH,
        method: String::new(),
        host: String::new(),
        path: String::new(),
        query: String::new(),
        request_headers: Vec::new(),
        request_body: StoredBody::default(),
        status: 0,
        response_headers: Vec::new(),
        response_body: StoredBody::default(),
        body_cap: 0,
        outcome: CallOutcomeKind::Matched,
        example_id: None,
        example_name: None,
        explanation: None,
        error: None,
        latency_us: 0,
        client_addr: None,
        key_id: None,
        callbacks_queued: 0,
        version: 0,
    }
}

/// How many bytes of text a call holds: what bounds a block ([`crate::blocks::BLOCK_BYTES`]) and
/// what reading one may rebuild ([`decode`]).
pub(crate) fn size(call: &NewCall) -> usize {
    let headers = |headers: &[Header]| -> usize {
        headers
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum()
    };
    let text = |text: &Option<String>| text.as_ref().map_or(0, String::len);
    call.method.len()
        + call.host.len()
        + call.path.len()
        + call.query.len()
        + headers(&call.request_headers)
        + call.request_body.text.len()
        + headers(&call.response_headers)
        + call.response_body.text.len()
        + text(&call.example_name)
        + call.explanation.as_ref().map_or(0, |json| json.get().len())
        + text(&call.error)
}

/// Writes `call` after `previous` (the block's previous call, or [`empty`]) at the end of
/// `bytes`, and adds the trigrams of its text that `previous` did not hold to `text`. Fails only
/// if postcard does, and then writes nothing.
pub(crate) fn encode(
    previous: &NewCall,
    call: &NewCall,
    bytes: &mut Vec<u8>,
    text: &mut BlockText,
) -> Result<(), postcard::Error> {
    let start = bytes.len();
    let written = Out::new(bytes).call(previous, call, text);
    if written.is_err() {
        bytes.truncate(start);
    }
    written
}

struct Out<'a> {
    bytes: &'a mut Vec<u8>,
    /// Where the mask goes, once known.
    mask_at: usize,
    mask: u32,
    /// The next field's bit.
    bit: u32,
}

impl<'a> Out<'a> {
    fn new(bytes: &'a mut Vec<u8>) -> Self {
        Self {
            mask_at: 0,
            bytes,
            mask: 0,
            bit: 0,
        }
    }

    fn call(
        mut self,
        previous: &NewCall,
        call: &NewCall,
        index: &mut BlockText,
    ) -> Result<(), postcard::Error> {
        self.bytes.extend_from_slice(call.id.as_bytes());
        let since = micros(call.at).wrapping_sub(micros(previous.at));
        self.put(&since)?;
        self.mask_at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        self.text(&previous.method, &call.method)?;
        self.text(&previous.host, &call.host)?;
        for (before, now) in [(&previous.path, &call.path), (&previous.query, &call.query)] {
            let changed = self.text(before, now)?;
            index.add(Side::Request, now, changed);
        }
        let request = (&previous.request_headers[..], &previous.request_body);
        self.side(
            index,
            Side::Request,
            request,
            (&call.request_headers, &call.request_body),
        )?;
        self.value(&previous.status, &call.status)?;
        let response = (&previous.response_headers[..], &previous.response_body);
        self.side(
            index,
            Side::Response,
            response,
            (&call.response_headers, &call.response_body),
        )?;
        self.value(&previous.body_cap, &call.body_cap)?;
        self.value(&previous.outcome, &call.outcome)?;
        self.value(&previous.example_id, &call.example_id)?;
        self.value(&previous.example_name, &call.example_name)?;
        self.text(json(&previous.explanation), json(&call.explanation))?;
        self.value(&previous.error, &call.error)?;
        self.value(&previous.latency_us, &call.latency_us)?;
        self.value(&previous.client_addr, &call.client_addr)?;
        self.value(&previous.key_id, &call.key_id)?;
        self.value(&previous.callbacks_queued, &call.callbacks_queued)?;
        self.value(&previous.version, &call.version)?;
        self.bytes[self.mask_at..self.mask_at + 4].copy_from_slice(&self.mask.to_le_bytes());
        Ok(())
    }

    /// Whether the next field is written: it changed.
    fn next(&mut self, changed: bool) -> bool {
        if changed {
            self.mask |= 1 << self.bit;
        }
        self.bit += 1;
        changed
    }

    /// Appends `value` in postcard's form (a number as a varint).
    fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), postcard::Error> {
        postcard::to_extend(value, Append(self.bytes)).map(drop)
    }

    fn value<T: Serialize + PartialEq>(
        &mut self,
        previous: &T,
        now: &T,
    ) -> Result<(), postcard::Error> {
        if self.next(previous != now) {
            self.put(now)?;
        }
        Ok(())
    }

    /// A side's headers and body; what changed in their text goes into the index.
    fn side(
        &mut self,
        index: &mut BlockText,
        side: Side,
        (previous_headers, previous_body): (&[Header], &StoredBody),
        (headers, body): (&[Header], &StoredBody),
    ) -> Result<(), postcard::Error> {
        let changed = self.headers(previous_headers, headers)?;
        add_headers(index, side, previous_headers, headers, changed);
        let changed = self.text(&previous_body.text, &body.text)?;
        index.add(side, &body.text, changed);
        let meta = |body: &StoredBody| (body.base64, body.size);
        self.value(&meta(previous_body), &meta(body))
    }

    /// Writes text that changed as the bytes between what it shares with `previous`; the range
    /// of those bytes in `now` (empty when it did not change).
    fn text(&mut self, previous: &str, now: &str) -> Result<Range<usize>, postcard::Error> {
        if !self.next(previous != now) {
            return Ok(0..0);
        }
        let between = changed(previous, now);
        self.put(&between.start)?;
        self.put(&(now.len() - between.end))?;
        self.put(&between.len())?;
        self.bytes
            .extend_from_slice(&now.as_bytes()[between.clone()]);
        Ok(between)
    }

    /// Writes a header list that changed as the headers between what it shares with
    /// `previous`; their range in `now` (empty when it did not change).
    fn headers(
        &mut self,
        previous: &[Header],
        now: &[Header],
    ) -> Result<Range<usize>, postcard::Error> {
        if !self.next(previous != now) {
            return Ok(0..0);
        }
        let start = previous.iter().zip(now).take_while(|(a, b)| a == b).count();
        let end = previous[start..]
            .iter()
            .rev()
            .zip(now[start..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let between = start..now.len() - end;
        self.put(&start)?;
        self.put(&end)?;
        self.put(&now[between.clone()])?;
        Ok(between)
    }
}

/// A `Vec` postcard appends to in place.
struct Append<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Append<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.0.extend(bytes);
    }
}

/// Adds the text of the headers `between` of a list that changed to the index: of a header in
/// the place of one of the same name in `previous` (a list as long), what changed in its value;
/// of any other, its name and value.
fn add_headers(
    index: &mut BlockText,
    side: Side,
    previous: &[Header],
    now: &[Header],
    between: Range<usize>,
) {
    let aligned = previous.len() == now.len();
    for at in between {
        let (name, value) = &now[at];
        match previous.get(at) {
            Some((was, before)) if aligned && was == name => {
                index.add(side, value, changed(before, value));
            }
            _ => {
                index.add(side, name, 0..name.len());
                index.add(side, value, 0..value.len());
            }
        }
    }
}

/// The bytes of `now` between the start and the end it shares with `previous`.
fn changed(previous: &str, now: &str) -> Range<usize> {
    let (previous, now) = (previous.as_bytes(), now.as_bytes());
    let start = shared_start(now, previous);
    let end = shared_end(&now[start..], &previous[start..]);
    start..now.len() - end
}

/// An explanation as text: empty for none (JSON is never empty).
fn json(explanation: &Option<Box<RawValue>>) -> &str {
    explanation.as_deref().map_or("", RawValue::get)
}

/// How many bytes two slices share at their start, compared eight at a time, then one at a time.
fn shared_start(a: &[u8], b: &[u8]) -> usize {
    let whole = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .take_while(|(a, b)| a == b)
        .count()
        * 8;
    whole
        + a[whole..]
            .iter()
            .zip(&b[whole..])
            .take_while(|(a, b)| a == b)
            .count()
}

/// How many bytes two slices share at their end, compared eight at a time, then one at a time.
fn shared_end(a: &[u8], b: &[u8]) -> usize {
    let whole = a
        .rchunks_exact(8)
        .zip(b.rchunks_exact(8))
        .take_while(|(a, b)| a == b)
        .count()
        * 8;
    whole
        + a[..a.len() - whole]
            .iter()
            .rev()
            .zip(b[..b.len() - whole].iter().rev())
            .take_while(|(a, b)| a == b)
            .count()
}

/// The calls of a block of format 3 (its bytes decompressed), of the block's workspace and mock.
/// Refuses bytes that end within a call, refer to more than the previous call holds, are not
/// UTF-8 where text is, or would rebuild more than `most` bytes of text in all.
pub(crate) fn decode(
    bytes: &[u8],
    workspace_id: WorkspaceId,
    mock_id: MockId,
    most: usize,
) -> Result<Vec<NewCall>, String> {
    let base = empty(workspace_id, mock_id);
    let mut calls: Vec<NewCall> = Vec::new();
    let mut rebuilt = 0usize;
    let mut input = In {
        rest: bytes,
        mask: 0,
        bit: 0,
    };
    while !input.rest.is_empty() {
        let call = input.call(calls.last().unwrap_or(&base))?;
        rebuilt = rebuilt.saturating_add(size(&call));
        if rebuilt > most {
            return Err(format!("rebuilds more than {most} bytes"));
        }
        calls.push(call);
    }
    Ok(calls)
}

struct In<'a> {
    rest: &'a [u8],
    mask: u32,
    bit: u32,
}

impl In<'_> {
    fn call(&mut self, previous: &NewCall) -> Result<NewCall, String> {
        let id = Uuid::from_bytes(self.array()?);
        let since: i64 = self.take()?;
        let at = from_micros(micros(previous.at).wrapping_add(since)).map_err(|e| e.to_string())?;
        self.mask = u32::from_le_bytes(self.array()?);
        self.bit = 0;
        let method = self.text(&previous.method)?;
        let host = self.text(&previous.host)?;
        let path = self.text(&previous.path)?;
        let query = self.text(&previous.query)?;
        let request_headers = self.headers(&previous.request_headers)?;
        let request_body = self.body(&previous.request_body)?;
        let status = self.value(&previous.status)?;
        let response_headers = self.headers(&previous.response_headers)?;
        let response_body = self.body(&previous.response_body)?;
        let body_cap = self.value(&previous.body_cap)?;
        let outcome = self.value(&previous.outcome)?;
        let example_id = self.value(&previous.example_id)?;
        let example_name = self.value(&previous.example_name)?;
        let explanation = match self.text(json(&previous.explanation))? {
            text if text.is_empty() => None,
            text => Some(RawValue::from_string(text).map_err(|e| e.to_string())?),
        };
        let error = self.value(&previous.error)?;
        let latency_us = self.value(&previous.latency_us)?;
        let client_addr = self.value(&previous.client_addr)?;
        let key_id = self.value(&previous.key_id)?;
        let callbacks_queued = self.value(&previous.callbacks_queued)?;
        let version = self.value(&previous.version)?;
        if self.mask >> self.bit != 0 {
            return Err(format!(
                "a call's mask {:#x} names unknown fields",
                self.mask
            ));
        }
        Ok(NewCall {
            id,
            workspace_id: previous.workspace_id,
            mock_id: previous.mock_id,
            at,
            method,
            host,
            path,
            query,
            request_headers,
            request_body,
            status,
            response_headers,
            response_body,
            body_cap,
            outcome,
            example_id,
            example_name,
            explanation,
            error,
            latency_us,
            client_addr,
            key_id,
            callbacks_queued,
            version,
        })
    }

    /// Whether the next field was written.
    fn next(&mut self) -> bool {
        let written = self.mask >> self.bit & 1 == 1;
        self.bit += 1;
        written
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (array, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or_else(|| "a call ends early".to_owned())?;
        self.rest = rest;
        Ok(*array)
    }

    fn take<T: DeserializeOwned>(&mut self) -> Result<T, String> {
        let (value, rest) = postcard::take_from_bytes(self.rest).map_err(|e| e.to_string())?;
        self.rest = rest;
        Ok(value)
    }

    fn value<T: DeserializeOwned + Clone>(&mut self, previous: &T) -> Result<T, String> {
        if self.next() {
            self.take()
        } else {
            Ok(previous.clone())
        }
    }

    fn body(&mut self, previous: &StoredBody) -> Result<StoredBody, String> {
        let text = self.text(&previous.text)?;
        let (base64, size) = self.value(&(previous.base64, previous.size))?;
        Ok(StoredBody { text, base64, size })
    }

    fn text(&mut self, previous: &str) -> Result<String, String> {
        if !self.next() {
            return Ok(previous.to_owned());
        }
        let start: usize = self.take()?;
        let end: usize = self.take()?;
        let between: &[u8] = self.take_bytes()?;
        let previous = previous.as_bytes();
        if start
            .checked_add(end)
            .is_none_or(|kept| kept > previous.len())
        {
            return Err(format!(
                "a call keeps {start} and {end} bytes of {}",
                previous.len()
            ));
        }
        let text = [
            &previous[..start],
            between,
            &previous[previous.len() - end..],
        ]
        .concat();
        String::from_utf8(text).map_err(|e| e.to_string())
    }

    fn take_bytes(&mut self) -> Result<&[u8], String> {
        let length: usize = self.take()?;
        if length > self.rest.len() {
            return Err("a call ends early".to_owned());
        }
        let (bytes, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(bytes)
    }

    fn headers(&mut self, previous: &[Header]) -> Result<Vec<Header>, String> {
        if !self.next() {
            return Ok(previous.to_vec());
        }
        let start: usize = self.take()?;
        let end: usize = self.take()?;
        let between: Vec<Header> = self.take()?;
        if start
            .checked_add(end)
            .is_none_or(|kept| kept > previous.len())
        {
            return Err(format!(
                "a call keeps {start} and {end} headers of {}",
                previous.len()
            ));
        }
        let mut headers = Vec::with_capacity(start + between.len() + end);
        headers.extend_from_slice(&previous[..start]);
        headers.extend(between);
        headers.extend_from_slice(&previous[previous.len() - end..]);
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::*;
    use crate::calls::CallOutcomeKind;
    use crate::ids::ExampleId;

    /// Text made of pieces that share starts and ends, and characters of two, three and four
    /// bytes, so that what two texts share may end within a character.
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a",
                "ab",
                "é",
                "ée",
                "€",
                "x€",
                "😀",
                "{\"id\": ",
                "}",
                "",
            ]),
            0..6,
        )
        .prop_map(|pieces| pieces.concat())
    }

    fn headers() -> impl Strategy<Value = Vec<Header>> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["accept", "x-id", "ratelimit-remaining"]),
                text(),
            )
                .prop_map(|(name, value)| (Cow::Borrowed(name), Cow::Owned(value))),
            0..4,
        )
    }

    prop_compose! {
        fn call()(
            at in -5_000_000i64..5_000_000,
            [method, host, path, query, request, response] in [text(), text(), text(), text(), text(), text()],
            request_headers in headers(),
            response_headers in headers(),
            (status, latency_us, size) in (0u16..600, 0u64..1_000_000, 0u64..100),
            example in prop::option::of(text()),
            explanation in prop::option::of(text()),
            error in prop::option::of(text()),
            base64 in any::<bool>(),
            version in 0u32..3,
        ) -> NewCall {
            let workspace = WorkspaceId::from(Uuid::from_u128(1));
            let mock = MockId::from(Uuid::from_u128(2));
            let body = |text: String| StoredBody { text, base64, size };
            NewCall {
                id: Uuid::from_u128(u128::from(latency_us) << 64 | u128::from(status)),
                at: OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
                    + time::Duration::microseconds(at),
                method,
                host,
                path,
                query,
                request_headers,
                request_body: body(request),
                status,
                response_headers,
                response_body: body(response),
                body_cap: size * 7,
                outcome: if status % 2 == 0 { CallOutcomeKind::Matched } else { CallOutcomeKind::NoMatch },
                example_id: example.as_ref().map(|_| ExampleId::from(Uuid::from_u128(3))),
                example_name: example,
                explanation: explanation.map(|text| {
                    serde_json::value::to_raw_value(&text).unwrap()
                }),
                error,
                latency_us,
                client_addr: (status % 3 == 0).then(|| "2001:db8::7".parse().unwrap()),
                key_id: None,
                callbacks_queued: u32::from(status % 4),
                version,
                ..empty(workspace, mock)
            }
        }
    }

    /// Calls often equal to the one before in some fields, as a mock's calls are.
    fn calls() -> impl Strategy<Value = Vec<NewCall>> {
        prop::collection::vec((call(), any::<u32>()), 1..12).prop_map(|drawn| {
            let mut calls: Vec<NewCall> = Vec::new();
            for (mut call, keep) in drawn {
                if let Some(previous) = calls.last() {
                    // Each bit keeps one field of the previous call.
                    let kept = |bit: u32| keep >> bit & 1 == 1;
                    if kept(0) {
                        call.path.clone_from(&previous.path);
                    }
                    if kept(1) {
                        call.request_headers.clone_from(&previous.request_headers);
                    }
                    if kept(2) {
                        call.response_headers.clone_from(&previous.response_headers);
                    }
                    if kept(3) {
                        call.response_body.clone_from(&previous.response_body);
                    }
                    if kept(4) {
                        call.explanation.clone_from(&previous.explanation);
                    }
                    if kept(5) {
                        call.method.clone_from(&previous.method);
                        call.host.clone_from(&previous.host);
                    }
                }
                calls.push(call);
            }
            calls
        })
    }

    fn written(calls: &[NewCall]) -> (Vec<u8>, BlockText) {
        let (mut bytes, mut text) = (Vec::new(), BlockText::default());
        let base = empty(calls[0].workspace_id, calls[0].mock_id);
        let mut previous = &base;
        for call in calls {
            encode(previous, call, &mut bytes, &mut text).unwrap();
            previous = call;
        }
        (bytes, text)
    }

    fn read(bytes: &[u8], calls: &[NewCall]) -> Result<Vec<NewCall>, String> {
        decode(bytes, calls[0].workspace_id, calls[0].mock_id, usize::MAX)
    }

    fn shown(calls: &[NewCall]) -> String {
        format!("{calls:?}")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn calls_read_back_as_they_were_written(calls in calls()) {
            let (bytes, _) = written(&calls);
            prop_assert_eq!(shown(&read(&bytes, &calls).unwrap()), shown(&calls));
        }

        #[test]
        fn a_cut_block_is_refused_or_read_as_its_first_calls(calls in calls(), at in any::<prop::sample::Index>()) {
            let (bytes, _) = written(&calls);
            let cut = at.index(bytes.len());
            if let Ok(read) = read(&bytes[..cut], &calls) {
                prop_assert_eq!(shown(&read), shown(&calls[..read.len()]));
            }
        }

        #[test]
        fn a_damaged_byte_is_refused_or_read_as_some_calls_never_a_panic(
            calls in calls(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let (mut bytes, _) = written(&calls);
            let at = at.index(bytes.len());
            bytes[at] ^= flip;
            let _ = read(&bytes, &calls);
        }
    }

    #[test]
    fn a_repeated_call_takes_its_id_time_and_mask() {
        let call = NewCall {
            response_body: StoredBody {
                text: "{\"id\": 42}".repeat(30),
                base64: false,
                size: 300,
            },
            ..crate::testing::call(
                WorkspaceId::generate(),
                MockId::generate(),
                OffsetDateTime::now_utc(),
            )
        };
        let again = NewCall {
            id: Uuid::now_v7(),
            at: call.at + time::Duration::microseconds(90),
            ..call.clone()
        };
        let (bytes, _) = written(std::slice::from_ref(&call));
        let (both, _) = written(&[call, again]);
        // 16 bytes of id, one of time, four of mask.
        assert_eq!(both.len() - bytes.len(), 16 + 2 + 4);
    }

    #[test]
    fn a_block_that_would_rebuild_too_much_is_refused() {
        let call = NewCall {
            path: "/".repeat(100),
            ..crate::testing::call(
                WorkspaceId::generate(),
                MockId::generate(),
                OffsetDateTime::now_utc(),
            )
        };
        let calls = vec![call; 50];
        let (bytes, _) = written(&calls);
        let total: usize = calls.iter().map(size).sum();
        let most = |most| decode(&bytes, calls[0].workspace_id, calls[0].mock_id, most);
        assert_eq!(most(total).unwrap().len(), 50);
        let refused = most(total - 1).unwrap_err();
        assert!(refused.contains("rebuilds more than"), "{refused}");
    }
}
