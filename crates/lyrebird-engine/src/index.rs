//! Indexes that hand selection only the examples a request could match.
//!
//! Rules mode keeps one trie of path segments per method (and one for "any method"): literal
//! segments are hash-map children, captures a single wildcard child, so a request walks only the
//! branches its own segments lead to, and examples on other paths or methods are never looked at.
//!
//! Postman mode compares whole paths through a ladder of looser steps, so it keeps hash maps from
//! the normalised forms each step compares (lower case without trailing slash, with ids removed)
//! and, for examples with `{{var}}` wildcards, a trie like rules mode's. Only the edit-distance step
//! scans, and only when no cheaper step found anything: the examples of the request's method, side
//! by side with their paths' character counts, which rule out most of them before any comparison. The `x-mock-response-id` and `-name`
//! control headers look their examples up by id and by name.

use std::borrow::Cow;
use std::collections::HashMap;

use uuid::Uuid;

use crate::compile::CompiledExample;
use crate::model::Example;
use crate::path::{Segment, decode_segment, request_segments};

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<String, Node>,
    capture: Option<Box<Node>>,
    /// Examples whose path ends here.
    exact: Vec<u32>,
    /// Examples whose path ends here with a trailing `*`: need at least one more segment.
    rest: Vec<u32>,
    /// Prefix examples whose path ends here: any further segments.
    prefix: Vec<u32>,
}

impl Node {
    fn collect(&self, segments: &[&str], out: &mut Vec<u32>) {
        out.extend_from_slice(&self.prefix);
        let Some((first, rest)) = segments.split_first() else {
            out.extend_from_slice(&self.exact);
            return;
        };
        out.extend_from_slice(&self.rest);
        if let Some(child) = self.literal.get(decode_segment(first).as_ref()) {
            child.collect(rest, out);
        }
        if let Some(child) = &self.capture
            && !first.is_empty()
        {
            child.collect(rest, out);
        }
    }
}

/// The rules-mode index.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    by_method: HashMap<String, Node>,
    any_method: Node,
}

impl PathIndex {
    /// Indexes the examples under the numbers given with them (their positions among all, or
    /// in postman mode their groups').
    pub(crate) fn build<'e>(
        examples: impl IntoIterator<Item = (u32, &'e CompiledExample)>,
    ) -> Self {
        let mut index = Self::default();
        for (position, example) in examples {
            let root = match &example.method {
                Some(method) => index.by_method.entry(method.clone()).or_default(),
                None => &mut index.any_method,
            };
            if example.prefix && example.path.raw == "/" {
                root.prefix.push(position);
                continue;
            }
            let mut node = root;
            for segment in &example.path.segments {
                node = match segment {
                    Segment::Literal(text) => node.literal.entry(text.clone()).or_default(),
                    Segment::Capture(_) => node.capture.get_or_insert_with(Box::default),
                };
            }
            let list = if example.path.rest {
                &mut node.rest
            } else if example.prefix {
                &mut node.prefix
            } else {
                &mut node.exact
            };
            list.push(position);
        }
        index
    }

    /// Numbers of the examples whose method and path could fit, in no particular order.
    pub(crate) fn candidates(&self, method: &str, segments: &[&str], out: &mut Vec<u32>) {
        if let Some(root) = self.by_method.get(method) {
            root.collect(segments, out);
        }
        self.any_method.collect(segments, out);
    }
}

/// The forms of a path that Postman's steps compare, computed once per example and once per
/// request. A request's forms borrow its path where they are the path itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathForms<'p> {
    /// Percent-decoded, as written.
    pub(crate) exact: Cow<'p, str>,
    pub(crate) lower: Cow<'p, str>,
    /// Lower case, id-like segments removed, trailing slash kept.
    pub(crate) ids_removed: String,
}

/// Paths longer than this are not compared by edit distance, which costs their product.
const MAX_EDIT_DISTANCE_LEN: usize = 512;

/// How many single-character edits the edit-distance step allows between paths of these lengths
/// in characters: a quarter of the longer; `None` when the lengths alone rule it out.
pub(crate) fn edits_allowed(a: usize, b: usize) -> Option<usize> {
    let longest = a.max(b);
    let allowed = longest / 4;
    (longest <= MAX_EDIT_DISTANCE_LEN && a.abs_diff(b) <= allowed).then_some(allowed)
}

/// How many characters of each kind (folded into 32 kinds) a path has, and how many in all.
/// Every edit adds or removes at most one character of one kind, so comparing the counts gives a
/// lower bound of the edit distance for the cost of 32 subtractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Letters {
    counts: [u8; 32],
    len: usize,
}

impl Letters {
    pub(crate) fn of(text: &str) -> Self {
        let mut letters = Self {
            counts: [0; 32],
            len: 0,
        };
        for c in text.chars() {
            let count = &mut letters.counts[(u32::from(c) % 32) as usize];
            // Saturating only lowers the bound.
            *count = count.saturating_add(1);
            letters.len += 1;
        }
        letters
    }

    /// Whether the edit-distance step may fit: the lengths and counts allow a quarter of the
    /// longer path's length in edits, and neither path is too long to compare.
    pub(crate) fn may_be_close(&self, other: &Self) -> bool {
        edits_allowed(self.len, other.len)
            .is_some_and(|allowed| self.fewest_edits(other) <= allowed)
    }

    /// At least this many single-character edits turn one path into the other.
    pub(crate) fn fewest_edits(&self, other: &Self) -> usize {
        // Fixed-size arrays and narrow sums, which the compiler turns into vector instructions.
        let mut surplus = [0u16; 32];
        let mut shortfall = [0u16; 32];
        for i in 0..32 {
            let (a, b) = (self.counts[i], other.counts[i]);
            surplus[i] = u16::from(a.saturating_sub(b));
            shortfall[i] = u16::from(b.saturating_sub(a));
        }
        let total = |counts: [u16; 32]| {
            counts
                .iter()
                .map(|&count| usize::from(count))
                .sum::<usize>()
        };
        total(surplus).max(total(shortfall))
    }
}

impl<'p> PathForms<'p> {
    /// For a request path.
    pub(crate) fn of_request(path: &'p str) -> Self {
        let exact = if path.starts_with('/') && !path.contains('%') {
            // Nothing to decode: the segments joined again are the path itself.
            Cow::Borrowed(path)
        } else {
            Cow::Owned(request_segments(path).map(decode_segment).fold(
                String::with_capacity(path.len()),
                |mut out, segment| {
                    out.push('/');
                    out.push_str(&segment);
                    out
                },
            ))
        };
        Self::from_exact(exact, |_| false)
    }

    /// For an example path: its captures count as ids for the ids-removed forms.
    pub(crate) fn of_example(example: &CompiledExample) -> Self {
        let captures: Vec<bool> = example
            .path
            .segments
            .iter()
            .map(|segment| matches!(segment, Segment::Capture(_)))
            .collect();
        Self::from_exact(
            Cow::Owned(crate::path::decode_segment(&example.path.raw).into_owned()),
            |position| captures.get(position).copied().unwrap_or(false),
        )
    }

    fn from_exact(exact: Cow<'p, str>, is_wildcard: impl Fn(usize) -> bool) -> Self {
        let lower = match exact {
            Cow::Borrowed(path)
                if !path
                    .bytes()
                    .any(|byte| byte.is_ascii_uppercase() || !byte.is_ascii()) =>
            {
                Cow::Borrowed(path)
            }
            _ => Cow::Owned(exact.to_lowercase()),
        };
        let mut ids_removed = String::with_capacity(lower.len());
        for (position, segment) in request_segments(&lower).enumerate() {
            if !is_wildcard(position) && !is_id(segment) {
                ids_removed.push('/');
                ids_removed.push_str(segment);
            }
        }
        Self {
            exact,
            lower,
            ids_removed,
        }
    }

    /// Lower case without trailing slash.
    pub(crate) fn lower_trimmed(&self) -> &str {
        trim_trailing_slash(&self.lower)
    }

    pub(crate) fn ids_and_slash_removed(&self) -> &str {
        trim_trailing_slash(&self.ids_removed)
    }
}

/// `/a/` becomes `/a`; `/` stays.
pub(crate) fn trim_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    }
}

/// An "alphanumeric id" in Postman's sense: a segment with a digit, made only of letters, digits,
/// `-` and `_` (`42`, `a1b2`, a UUID).
fn is_id(segment: &str) -> bool {
    segment.bytes().any(|byte| byte.is_ascii_digit())
        && segment
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Examples that postman-mode scoring cannot tell apart: scored once, for all of them.
#[derive(Debug)]
pub(crate) struct Group {
    /// The forms of the members' path.
    pub(crate) forms: PathForms<'static>,
    /// Positions of the members, the one Postman's tie-break prefers first
    /// ([`crate::postman::preference`]).
    pub(crate) members: Vec<u32>,
}

/// The postman-mode index. Collections keep several saved responses (200, 400, 404, ...) of one
/// request, each an example with the same conditions, so the path steps and their lookups work on
/// groups of examples alike ([`scored_as`]) and score each group once.
#[derive(Debug, Default)]
pub(crate) struct PostmanIndex {
    pub(crate) groups: Vec<Group>,
    /// The group of each example.
    group_of: Vec<u32>,
    /// Groups without wildcards, by lower-case path without trailing slash (steps 1 to 4).
    by_lower_trimmed: HashMap<String, Vec<u32>>,
    /// Groups with wildcards, in a segment trie like rules mode's (step 5).
    wildcards: PathIndex,
    /// Every group by its lower-case path without ids and trailing slash (steps 6 and 7).
    by_ids_removed: HashMap<String, Vec<u32>>,
    /// Every example by id, for `x-mock-response-id`.
    by_id: HashMap<Uuid, u32>,
    /// Examples by name, in position order, for `x-mock-response-name`.
    by_name: HashMap<String, Vec<u32>>,
    /// Groups by method with their paths' characters, side by side for the edit-distance
    /// step's scan.
    by_method: HashMap<String, Vec<(Letters, u32)>>,
    any_method: Vec<(Letters, u32)>,
}

/// What postman-mode scoring reads of an example, judged by what it was compiled from: its
/// request conditions and scenario step, serialized; examples with the same are then compared
/// whole. Only their status differs in what scoring reads, which the request's
/// `x-mock-response-code` alone asks about. `None` keeps an example alone: one with an
/// expression, since each evaluation uses up some of the request's expression time, and a
/// resource's two, whose paths are not their source's.
fn scored_as(example: &Example) -> Option<String> {
    if example.request.expression.is_some() || example.resource.is_some() {
        return None;
    }
    serde_json::to_string(&(&example.request, &example.scenario)).ok()
}

impl PostmanIndex {
    /// `sources` are what the examples were compiled from, by their `position`.
    pub(crate) fn build(examples: &[CompiledExample], sources: &[(Uuid, Example)]) -> Self {
        let source = |position: u32| &sources[examples[position as usize].position].1;
        let mut index = Self::default();
        let mut by_scoring: HashMap<String, Vec<u32>> = HashMap::new();
        for (position, example) in (0u32..).zip(examples) {
            let this = source(position);
            let alike = scored_as(this).map(|key| by_scoring.entry(key).or_default());
            let found = alike.as_ref().and_then(|alike| {
                alike.iter().copied().find(|&group| {
                    let other = source(index.groups[group as usize].members[0]);
                    this.request == other.request && this.scenario == other.scenario
                })
            });
            let group = found.unwrap_or_else(|| {
                let group = u32::try_from(index.groups.len()).unwrap_or(u32::MAX);
                index.groups.push(Group {
                    forms: PathForms::of_example(example),
                    members: Vec::new(),
                });
                if let Some(alike) = alike {
                    alike.push(group);
                }
                group
            });
            index.groups[group as usize].members.push(position);
            index.group_of.push(group);
            index.by_id.entry(example.id).or_insert(position);
            index
                .by_name
                .entry(example.name.clone())
                .or_default()
                .push(position);
        }
        for (number, group) in (0u32..).zip(&mut index.groups) {
            group.members.sort_by_key(|&position| {
                crate::postman::preference(&examples[position as usize], position as usize)
            });
            let first = &examples[group.members[0] as usize];
            let forms = &group.forms;
            if !first.path.has_wildcards() {
                index
                    .by_lower_trimmed
                    .entry(forms.lower_trimmed().to_owned())
                    .or_default()
                    .push(number);
            }
            index
                .by_ids_removed
                .entry(forms.ids_and_slash_removed().to_owned())
                .or_default()
                .push(number);
            let of_method = match &first.method {
                Some(method) => index.by_method.entry(method.clone()).or_default(),
                None => &mut index.any_method,
            };
            of_method.push((Letters::of(forms.lower_trimmed()), number));
        }
        index.wildcards =
            PathIndex::build((0u32..).zip(&index.groups).filter_map(|(number, group)| {
                let first = &examples[group.members[0] as usize];
                first.path.has_wildcards().then_some((number, first))
            }));
        index
    }

    /// The forms of the path of the example at `position`.
    pub(crate) fn forms(&self, position: usize) -> &PathForms<'static> {
        &self.groups[self.group_of[position] as usize].forms
    }

    /// The position of the example with this id.
    pub(crate) fn with_id(&self, id: Uuid) -> Option<usize> {
        self.by_id.get(&id).map(|&position| position as usize)
    }

    /// The positions of the examples with this name.
    pub(crate) fn named(&self, name: &str) -> &[u32] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// Groups of `method` whose character counts leave the edit-distance step a chance, in
    /// no particular order: what that step's scan compares when no cheaper step fits.
    pub(crate) fn maybe_close<'i>(
        &'i self,
        method: &str,
        request: &PathForms<'_>,
    ) -> impl Iterator<Item = u32> + 'i {
        let wanted = Letters::of(request.lower_trimmed());
        let of_method = self.by_method.get(method).map_or(&[][..], Vec::as_slice);
        of_method
            .iter()
            .chain(&self.any_method)
            .filter(move |(letters, _)| letters.may_be_close(&wanted))
            .map(|&(_, position)| position)
    }

    /// Groups that one of the cheap steps may fit; the fuzzy ones only when allowed. Sorted and
    /// without duplicates.
    /// `trimmed_segments` are the request's path segments without a trailing slash.
    pub(crate) fn candidates(
        &self,
        method: &str,
        request: &PathForms<'_>,
        trimmed_segments: &[&str],
        fuzzy: bool,
        out: &mut Vec<u32>,
    ) {
        if let Some(found) = self.by_lower_trimmed.get(request.lower_trimmed()) {
            out.extend_from_slice(found);
        }
        self.wildcards.candidates(method, trimmed_segments, out);
        if fuzzy && let Some(found) = self.by_ids_removed.get(request.ids_and_slash_removed()) {
            out.extend_from_slice(found);
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_segments_with_digits() {
        assert!(is_id("42"));
        assert!(is_id("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!is_id("users"));
        assert!(!is_id("a.1"));
    }

    #[test]
    fn the_postman_index_finds_an_example_by_id() {
        let sources: Vec<(Uuid, Example)> = (1..=3u128)
            .map(|n| {
                let example = serde_json::from_value(serde_json::json!({
                    "name": format!("example {n}"),
                    "request": {"path": format!("/items/{n}")}
                }))
                .expect("a valid example");
                (Uuid::from_u128(n * 10), example)
            })
            .collect();
        let examples: Vec<CompiledExample> = sources
            .iter()
            .enumerate()
            .flat_map(|(position, (id, example))| {
                CompiledExample::compile_all(
                    *id,
                    position,
                    example,
                    &std::collections::BTreeMap::new(),
                )
                .expect("compiles")
            })
            .collect();
        let index = PostmanIndex::build(&examples, &sources);
        assert_eq!(index.with_id(Uuid::from_u128(20)), Some(1));
        assert_eq!(index.with_id(Uuid::from_u128(30)), Some(2));
        assert_eq!(index.with_id(Uuid::from_u128(2)), None);
    }

    #[test]
    fn request_forms_normalise_case_slash_and_ids() {
        let forms = PathForms::of_request("/Users/42/Orders/");
        assert_eq!(forms.exact, "/Users/42/Orders/");
        assert_eq!(forms.lower_trimmed(), "/users/42/orders");
        assert_eq!(forms.ids_removed, "/users/orders/");
        assert_eq!(forms.ids_and_slash_removed(), "/users/orders");
        assert_eq!(
            PathForms::of_request("/caf%C3%A9/A%20b/").exact,
            "/café/A b/"
        );
    }
}
