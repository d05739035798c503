//! The call log's text index: for each block, the trigrams of its calls' searched text, so that a
//! search for text reads only the blocks that may hold it (docs/call-log.md, "How filters
//! search").
//!
//! A search for `q` keeps a call when one of its searched fields ([`searched_fields`]), lower
//! cased, holds `q` lower cased. Then that field holds every three bytes in a row of `q` (its
//! trigrams). So a block stores the set of trigrams of its calls' lower-cased fields, and a
//! search reads only the blocks whose set holds every trigram of its text: it may read a block
//! for nothing (the trigrams are there, but not in a row, or not in one field), never skip one
//! that holds a match.
//!
//! A trigram is three bytes of UTF-8; its key is a 16-bit hash of them, with the side of the
//! call it was found on (request or response) in bit 16, so that `q_in` narrows the blocks as
//! well. Hashing merges trigrams, which only makes a block read for nothing a little more often.
//! Trigrams of hexadecimal digits are kept exactly and, when a block holds half of a class of
//! them, stored as the class's marker ([`Class`]). The set is an `int4[]` in
//! `call_blocks.trigrams` under a GIN index; [`UNINDEXED`] marks blocks whose trigrams were never
//! computed (those written before the index), which every search reads.
//!
//! The writer builds a block's set as it writes each call ([`BlockText::add`], from
//! [`crate::delta`]), hashing only the part of each field that differs from the block's previous
//! call's (calls of one mock repeat most of their headers and bodies).

use std::ops::Range;

use crate::calls::TextScope;

/// The key of a block whose trigrams are not known: every search reads it.
pub(crate) const UNINDEXED: i32 = -1;

/// Which part of a call a searched field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

impl Side {
    fn bit(self) -> u32 {
        match self {
            Side::Request => 0,
            Side::Response => 1 << HASH_BITS,
        }
    }
}

impl TextScope {
    /// Whether a search of this scope looks at a field on `side`.
    pub(crate) fn looks_at(self, side: Side) -> bool {
        match self {
            TextScope::Anywhere => true,
            TextScope::Request => side == Side::Request,
            TextScope::Response => side == Side::Response,
        }
    }
}

/// A search looks in these fields of a call: the path, query, request headers (names and values)
/// and body, and the response headers and body. Both the search's check of a call and the
/// index read them from here.
pub(crate) fn searched_fields<'a, T: ?Sized>(
    request: [&'a T; 3],
    request_headers: impl Iterator<Item = (&'a T, &'a T)>,
    response_body: &'a T,
    response_headers: impl Iterator<Item = (&'a T, &'a T)>,
) -> impl Iterator<Item = (Side, &'a T)> {
    request
        .into_iter()
        .chain(request_headers.flat_map(|(name, value)| [name, value]))
        .map(|field| (Side::Request, field))
        .chain(
            std::iter::once(response_body)
                .chain(response_headers.flat_map(|(name, value)| [name, value]))
                .map(|field| (Side::Response, field)),
        )
}

const HASH_BITS: u32 = 16;
const BUCKETS: usize = 1 << HASH_BITS;

/// The key of a trigram (its three bytes in the low 24 bits) found on `side`.
fn key(side: Side, trigram: u32) -> u32 {
    side.bit() | (trigram.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS))
}

/// Trigrams of hexadecimal digits (`0`-`9`, `a`-`f`), which ids, hashes, times and amounts
/// are made of. A block of calls with such values holds most of them, so a set that listed them
/// would grow by up to 4,096 keys a side and tell little. Instead a block keeps them exactly
/// aside, and when it holds half or more of those of a class, stores the class's marker key in
/// their place, which a search takes for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Three decimal digits: 1,000 trigrams.
    Digits,
    /// Three hexadecimal digits, one of them a letter: 3,096 trigrams.
    Hex,
}

impl Class {
    /// The class of a trigram of hexadecimal digits, by its 12-bit value.
    const fn of(hex: usize) -> Self {
        if (hex >> 8) < 10 && (hex >> 4 & 0xF) < 10 && (hex & 0xF) < 10 {
            Class::Digits
        } else {
            Class::Hex
        }
    }

    /// Which of the trigrams held in word `index` of a side's 4,096 bits are of the class.
    fn mask(self, index: usize) -> u64 {
        match self {
            Class::Digits => DIGITS[index],
            Class::Hex => !DIGITS[index],
        }
    }

    fn size(self) -> usize {
        match self {
            Class::Digits => 1000,
            Class::Hex => 4096 - 1000,
        }
    }

    /// The key a block stores instead of the class's trigrams found on `side`: above every
    /// trigram's key.
    fn marker(self, side: Side) -> i32 {
        let class = match self {
            Class::Digits => 0,
            Class::Hex => 1,
        };
        (2 * BUCKETS) as i32 + 2 * side_index(side) + class
    }
}

/// The trigrams of three decimal digits among the 4,096 of hexadecimal digits, a bit each.
const DIGITS: [u64; 64] = {
    let mut mask = [0; 64];
    let mut value = 0;
    while value < 4096 {
        if matches!(Class::of(value), Class::Digits) {
            mask[value / 64] |= 1 << (value % 64);
        }
        value += 1;
    }
    mask
};

fn side_index(side: Side) -> i32 {
    match side {
        Side::Request => 0,
        Side::Response => 1,
    }
}

/// The value of a lower-case hexadecimal digit, 16 or more for any other byte.
const HEX: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = match byte as u8 {
            digit @ b'0'..=b'9' => digit - b'0',
            letter @ b'a'..=b'f' => letter - b'a' + 10,
            _ => 0xFF,
        };
        byte += 1;
    }
    table
};

/// Where a block's set keeps the trigrams of hexadecimal digits found on the request side (by
/// their 12-bit value; those of the response side follow): after the keys of the others.
const HEX_START: usize = 2 * BUCKETS;
const BITS: usize = HEX_START + 2 * 4096;

/// Where a block's set keeps a trigram (three lower-case bytes) found on `side`: the bit of its
/// key, or for a trigram of hexadecimal digits, its own bit.
fn place(side: Side, window: [u8; 3]) -> usize {
    let [a, b, c] = window.map(|byte| HEX[usize::from(byte)]);
    let hex = HEX_START
        + 4096 * side_index(side) as usize
        + (usize::from(a) << 8 | usize::from(b) << 4 | usize::from(c));
    let trigram = u32::from(window[0]) << 16 | u32::from(window[1]) << 8 | u32::from(window[2]);
    // Both are computed and one is kept: text mixes the two kinds too often to branch on it.
    if (a | b | c) < 16 {
        hex
    } else {
        key(side, trigram) as usize
    }
}

/// The trigram keys of a block's calls: other trigrams as a bit per key, those of hexadecimal
/// digits exactly, a bit per trigram and side.
#[derive(Debug)]
struct TrigramSet(Box<[u64; BITS / 64]>);

impl Default for TrigramSet {
    fn default() -> Self {
        Self(Box::new([0; BITS / 64]))
    }
}

fn set(bits: &mut [u64], bit: usize) {
    bits[bit / 64] |= 1 << (bit % 64);
}

impl TrigramSet {
    /// Adds the trigrams of lower-cased text found on `side`.
    fn add(&mut self, side: Side, lower: &[u8]) {
        for window in lower.windows(3) {
            set(&mut *self.0, place(side, [window[0], window[1], window[2]]));
        }
    }

    /// The keys, ascending: the block's `trigrams`.
    fn keys(&self) -> Vec<i32> {
        let (keys, hex) = self.0.split_at(HEX_START / 64);
        let mut keys = keys.to_vec();
        let mut markers = Vec::new();
        for side in [Side::Request, Side::Response] {
            let words = &hex[64 * side_index(side) as usize..][..64];
            for class in [Class::Digits, Class::Hex] {
                let held = || (0..64).map(|index| words[index] & class.mask(index));
                if held().map(u64::count_ones).sum::<u32>() as usize * 2 >= class.size() {
                    markers.push(class.marker(side));
                } else {
                    for value in ones(held()) {
                        set(&mut keys, key(side, hex_trigram(value)) as usize);
                    }
                }
            }
        }
        let mut list: Vec<i32> = ones(keys.into_iter()).map(|key| key as i32).collect();
        list.extend(markers);
        list
    }
}

/// The positions of the bits set in `words`, ascending.
fn ones(words: impl Iterator<Item = u64>) -> impl Iterator<Item = usize> {
    words.enumerate().flat_map(|(index, mut word)| {
        std::iter::from_fn(move || {
            (word != 0).then(|| {
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                index * 64 + bit
            })
        })
    })
}

/// The three bytes of a trigram of hexadecimal digits, from its 12-bit value.
fn hex_trigram(value: usize) -> u32 {
    let digit = |nibble: usize| u32::from(b"0123456789abcdef"[nibble & 0xF]);
    digit(value >> 8) << 16 | digit(value >> 4) << 8 | digit(value)
}

/// The key sets a block must hold one of to hold `folded` (lower-cased search text) on a side
/// `scope` looks at; `None` when the text is shorter than a trigram, which every block may hold.
///
/// Per side, the text's other trigrams and, for each class of hexadecimal trigrams it has,
/// either their keys or the class's marker.
pub(crate) fn needle_keys(folded: &str, scope: TextScope) -> Option<Vec<Vec<i32>>> {
    if folded.len() < 3 {
        return None;
    }
    let mut sets = Vec::new();
    for side in [Side::Request, Side::Response] {
        if !scope.looks_at(side) {
            continue;
        }
        let mut others = Vec::new();
        let mut hex: Vec<(Class, i32)> = Vec::new();
        for window in folded.as_bytes().windows(3) {
            match place(side, [window[0], window[1], window[2]]) {
                key if key < HEX_START => others.push(key as i32),
                place => {
                    let value = (place - HEX_START) % 4096;
                    hex.push((Class::of(value), key(side, hex_trigram(value)) as i32));
                }
            }
        }
        let classes: Vec<Class> = [Class::Digits, Class::Hex]
            .into_iter()
            .filter(|class| hex.iter().any(|(of, _)| of == class))
            .collect();
        // Each class either by its marker or by its trigrams' keys.
        for markers in 0..1 << classes.len() {
            let mut keys = others.clone();
            for (bit, class) in classes.iter().enumerate() {
                if markers & 1 << bit != 0 {
                    keys.push(class.marker(side));
                } else {
                    keys.extend(
                        hex.iter()
                            .filter(|(of, _)| of == class)
                            .map(|(_, key)| *key),
                    );
                }
            }
            keys.sort_unstable();
            keys.dedup();
            sets.push(keys);
        }
    }
    Some(sets)
}

/// The searched text of a block's calls, gathered as the writer writes them.
#[derive(Debug, Default)]
pub(crate) struct BlockText {
    trigrams: TrigramSet,
    /// The part of a field being added, lower-cased.
    lower: Vec<u8>,
}

impl BlockText {
    /// Adds the trigrams of `field`, found on `side`, that hold a byte of its `changed` part.
    /// The others lie wholly within a start or an end the field shares with the block's
    /// previous call's, whose trigrams are in the set already.
    pub(crate) fn add(&mut self, side: Side, field: &str, changed: Range<usize>) {
        if changed.is_empty() {
            return;
        }
        if !field.is_ascii() {
            self.trigrams.add(side, field.to_lowercase().as_bytes());
            return;
        }
        let around = changed.start.saturating_sub(2)..field.len().min(changed.end + 2);
        self.lower.clear();
        self.lower
            .extend(field.as_bytes()[around].iter().map(u8::to_ascii_lowercase));
        self.trigrams.add(side, &self.lower);
    }

    pub(crate) fn keys(&self) -> Vec<i32> {
        self.trigrams.keys()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::calls::{NewCall, StoredBody};
    use crate::ids::{MockId, WorkspaceId};
    use crate::testing::encoded;

    fn body(text: &str) -> StoredBody {
        StoredBody {
            text: text.to_owned(),
            base64: false,
            size: text.len() as u64,
        }
    }

    fn call(path: &str, headers: &[(&str, &str)], request: &str, response: &str) -> NewCall {
        let headers: Vec<_> = headers
            .iter()
            .map(|&(name, value)| (name.to_owned().into(), value.to_owned().into()))
            .collect();
        NewCall {
            path: path.to_owned(),
            query: "page=2&sort=Name".into(),
            request_headers: headers.clone(),
            request_body: body(request),
            response_headers: headers.into_iter().rev().collect(),
            response_body: body(response),
            ..crate::testing::call(
                WorkspaceId::generate(),
                MockId::generate(),
                time::OffsetDateTime::now_utc(),
            )
        }
    }

    /// Calls that vary as logged calls do: some fields repeat, some change a little, some are
    /// ids, some are not ASCII.
    fn calls() -> Vec<NewCall> {
        let mut calls: Vec<NewCall> = (0..300)
            .map(|i| {
                call(
                    &format!("/orders/{}", i * 7919 % 1000),
                    &[
                        (
                            "X-Request-Id",
                            &format!("{:016x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                        ),
                        ("Accept", "application/json"),
                    ],
                    if i % 3 == 0 {
                        "{\"note\": \"Größe XL\"}"
                    } else {
                        ""
                    },
                    &format!(
                        "{{\"id\": {i}, \"created\": \"2026-11-21T12:00:{:02}Z\"}}",
                        i % 60
                    ),
                )
            })
            .collect();
        calls.push(call(
            "/ÜBER/straße",
            &[("User-Agent", "\u{212A}elvin ΣΊΣΥΦΟΣ")],
            "İstanbul ǅemal",
            "ﬁne",
        ));
        let (workspace, mock) = (calls[0].workspace_id, calls[0].mock_id);
        for call in &mut calls {
            (call.workspace_id, call.mock_id) = (workspace, mock);
        }
        calls
    }

    /// Every substring of three bytes or more of a searched field, as a search would look for
    /// it: lower-cased, cut at characters.
    fn needles(call: &NewCall) -> Vec<(Side, String)> {
        let pairs = |headers: &[crate::calls::Header]| {
            headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect::<Vec<_>>()
        };
        let (request, response) = (pairs(&call.request_headers), pairs(&call.response_headers));
        let fields: Vec<(Side, String)> = searched_fields(
            [call.path.as_str(), &call.query, &call.request_body.text],
            request
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
            call.response_body.text.as_str(),
            response
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
        .map(|(side, field)| (side, field.to_lowercase()))
        .collect();
        let mut needles = Vec::new();
        for (side, field) in fields {
            let cuts: Vec<usize> = field
                .char_indices()
                .map(|(at, _)| at)
                .chain([field.len()])
                .collect();
            for (i, &start) in cuts.iter().enumerate() {
                for &end in &cuts[i + 1..] {
                    if end - start >= 3 && end - start <= 24 {
                        needles.push((side, field[start..end].to_owned()));
                    }
                }
            }
        }
        needles
    }

    #[test]
    fn a_block_holds_the_keys_of_every_text_its_calls_hold() {
        let calls = calls();
        let blocks = encoded(&calls);
        let [block] = blocks.blocks() else {
            panic!("one block");
        };
        let keys: HashSet<i32> = block.trigrams().into_iter().collect();
        // Request ids fill the block with hexadecimal trigrams: it keeps their marker instead.
        assert!(keys.contains(&Class::Hex.marker(Side::Request)), "{keys:?}");
        let mut checked = 0;
        for call in &calls {
            for (side, needle) in needles(call) {
                let scope = match side {
                    Side::Request => TextScope::Request,
                    Side::Response => TextScope::Response,
                };
                for scope in [scope, TextScope::Anywhere] {
                    let sets = needle_keys(&needle, scope).expect("three bytes or more");
                    assert!(
                        sets.iter()
                            .any(|set| set.iter().all(|key| keys.contains(key))),
                        "{needle:?} ({scope:?}) is not found: {sets:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
        // Text on neither side, and text of one side looked for on the other, is not.
        for (needle, scope) in [
            ("zebra crossing", TextScope::Anywhere),
            ("größe", TextScope::Response),
            ("ﬁne", TextScope::Request),
        ] {
            let sets = needle_keys(needle, scope).unwrap();
            assert!(
                !sets
                    .iter()
                    .any(|set| set.iter().all(|key| keys.contains(key))),
                "{needle:?} ({scope:?})"
            );
        }
        assert_eq!(needle_keys("ab", TextScope::Anywhere), None);
    }
}
