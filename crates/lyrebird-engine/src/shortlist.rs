//! The cheap first round of explaining a request that matched nothing: which few examples are
//! worth walking condition by condition, and in which order.
//!
//! Walking every condition of every example made a 404 cost grow with the mock (0.78 ms at 10,000
//! examples in rules mode). So compiling a mock also records each example's *shape*: its method
//! and path segments as interned numbers, and the most its conditions can weigh. From the shape
//! alone the method and path parts of an example's distance (see [`crate::explain`]) are exact,
//! and dividing them by the most its conditions can weigh gives a lower bound of the full
//! distance: the other conditions can only add to it.
//!
//! Shapes are grouped by method, path kind and length, and weight, and each group knows which
//! segments its members have at each position, so it has a bound of its own: a request segment
//! that no member has (nor a capture) differs for all of them. [`Search::next_within`] hands out
//! candidates lowest bound first, scanning a group only when its bound comes up and taking only
//! its [`PER_GROUP`] members of lowest bound; [`crate::select::CompiledMock::explain`] walks them
//! until no bound left can beat the third closest found, or [`SHORTLIST`] have been walked. A
//! request that shares no resource with the mock thus looks at a few dozen examples, whatever the
//! mock's size.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};

use uuid::Uuid;

use crate::compile::CompiledExample;
use crate::model::SelectionMode;
use crate::path::{PathShape, Segment, decode_segment};
use crate::tally::weight;

/// How many examples, at most, an explanation walks condition by condition.
pub(crate) const SHORTLIST: usize = 32;

/// How many candidates one group gives. Members of a group share method, path length and weight,
/// so many tie on their bound while their other conditions set them apart; taking a few from each
/// group keeps, say, the same path with another method on the list next to a thousand other
/// resources with the request's method.
const PER_GROUP: usize = 8;

/// A capture segment, which fits any non-empty request segment.
const CAPTURE: u32 = u32::MAX;
/// A request segment or method that no example has.
const UNKNOWN: u32 = u32::MAX - 1;
/// The method of an example that accepts any.
const ANY_METHOD: u32 = u32::MAX;

/// What the members of a group have at one path position.
#[derive(Debug, Default)]
struct Column {
    literals: HashSet<u32>,
    capture: bool,
}

impl Column {
    /// Whether some member's segment here fits the request's.
    fn may_fit(&self, actual: u32, filled: bool) -> bool {
        (self.capture && filled) || self.literals.contains(&actual)
    }

    /// Whether members have different segments here.
    fn varies(&self) -> bool {
        self.literals.len() + usize::from(self.capture) > 1
    }
}

/// Examples alike in everything a group's bound reads.
#[derive(Debug)]
struct Group {
    method: u32,
    path: PathShape,
    /// Rules mode's prefix paths (level 11); postman mode compares whole paths.
    prefix: bool,
    /// The most the members' conditions weigh, besides what the request adds.
    weight: f64,
    columns: Vec<Column>,
    /// The positions where members differ from each other.
    varying: Vec<usize>,
    /// Example positions, by id.
    positions: Vec<u32>,
    /// Each member's segments at the `varying` positions, one member after another.
    values: Vec<u32>,
}

/// Every example's shape, built once per mock.
#[derive(Debug, Default)]
pub(crate) struct Shapes {
    literals: HashMap<String, u32>,
    methods: HashMap<String, u32>,
    groups: Vec<Group>,
    /// Group of each example, by position.
    group_of: Vec<u32>,
    ids: Vec<Uuid>,
}

/// The request as the shortlist reads it.
pub(crate) struct Sought<'a> {
    pub(crate) method: &'a str,
    /// The path segments the mode's distance compares (postman mode: without a trailing slash).
    pub(crate) segments: &'a [&'a str],
    /// Examples known to fit the path by a step other than segment equality (postman mode's
    /// case, id, trailing slash and edit-distance steps); their path distance is 0. Sorted.
    pub(crate) path_fits: &'a [u32],
    /// Weight that the request adds to every example's conditions (postman mode's control and
    /// matching headers).
    pub(crate) added_weight: f64,
}

/// An example worth walking: its bound and, for ties, its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub(crate) bound: f64,
    pub(crate) id: Uuid,
    pub(crate) position: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    /// Lower bound first, then the older example, as explanations rank.
    fn cmp(&self, other: &Self) -> Ordering {
        self.bound
            .total_cmp(&other.bound)
            .then(self.id.cmp(&other.id))
    }
}

/// A group waiting to be scanned, with its bound: first from the lengths alone, then, once it
/// comes up, from its columns too (`least` differing segments known).
#[derive(Debug, Clone, Copy)]
struct Queued {
    bound: f64,
    least: Option<usize>,
    group: usize,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bound
            .total_cmp(&other.bound)
            .then(self.group.cmp(&other.group))
    }
}

impl Shapes {
    pub(crate) fn build(examples: &[CompiledExample], mode: SelectionMode) -> Self {
        let mut shapes = Self {
            group_of: vec![0; examples.len()],
            ids: examples.iter().map(|example| example.id).collect(),
            ..Self::default()
        };
        let mut by_id: Vec<usize> = (0..examples.len()).collect();
        by_id.sort_by_key(|&position| examples[position].id);
        let mut keys: HashMap<(u32, PathShape, bool, u64), usize> = HashMap::new();
        let mut segments_of: Vec<Vec<Vec<u32>>> = Vec::new();
        for position in by_id {
            let example = &examples[position];
            let method = example
                .method
                .as_ref()
                .map_or(ANY_METHOD, |method| intern(&mut shapes.methods, method));
            let prefix = mode == SelectionMode::Rules && example.prefix;
            let path = example.path.shape();
            let weight = heaviest(example, mode);
            let group = *keys
                .entry((method, path, prefix, weight.to_bits()))
                .or_insert_with(|| {
                    shapes.groups.push(Group {
                        method,
                        path,
                        prefix,
                        weight,
                        columns: (0..path.count).map(|_| Column::default()).collect(),
                        varying: Vec::new(),
                        positions: Vec::new(),
                        values: Vec::new(),
                    });
                    segments_of.push(Vec::new());
                    shapes.groups.len() - 1
                });
            let segments: Vec<u32> = example
                .path
                .segments
                .iter()
                .map(|segment| match segment {
                    Segment::Literal(text) => intern(&mut shapes.literals, text),
                    Segment::Capture(_) => CAPTURE,
                })
                .collect();
            let members = &mut shapes.groups[group];
            for (column, &segment) in members.columns.iter_mut().zip(&segments) {
                if segment == CAPTURE {
                    column.capture = true;
                } else {
                    column.literals.insert(segment);
                }
            }
            members
                .positions
                .push(u32::try_from(position).unwrap_or(u32::MAX));
            segments_of[group].push(segments);
            shapes.group_of[position] = u32::try_from(group).unwrap_or(u32::MAX);
        }
        for (group, members) in shapes.groups.iter_mut().zip(segments_of) {
            group.varying = (0..group.columns.len())
                .filter(|&at| group.columns[at].varies())
                .collect();
            for segments in members {
                group
                    .values
                    .extend(group.varying.iter().map(|&at| segments[at]));
            }
        }
        shapes
    }

    /// Starts handing out the candidates for `sought`.
    pub(crate) fn search<'s>(&'s self, sought: &'s Sought<'s>) -> Search<'s> {
        let request = sought
            .segments
            .iter()
            .map(|segment| {
                let literal = self.literals.get(decode_segment(segment).as_ref());
                (literal.copied().unwrap_or(UNKNOWN), !segment.is_empty())
            })
            .collect();
        let mut search = Search {
            shapes: self,
            sought,
            method: self.methods.get(sought.method).copied().unwrap_or(UNKNOWN),
            request,
            queue: BinaryHeap::new(),
            pending: BinaryHeap::new(),
        };
        let queue: Vec<Reverse<Queued>> = self
            .groups
            .iter()
            .enumerate()
            .map(|(at, group)| {
                Reverse(Queued {
                    bound: search.bound(group, 0),
                    least: None,
                    group: at,
                })
            })
            .collect();
        search.queue = BinaryHeap::from(queue);
        // The path fits alike for all of them: the first few of each group by id.
        let mut fitting = sought.path_fits.to_vec();
        fitting.sort_unstable_by_key(|&position| self.ids[position as usize]);
        let mut taken = vec![0usize; self.groups.len()];
        for position in fitting {
            let at = self.group_of[position as usize] as usize;
            if taken[at] == PER_GROUP {
                continue;
            }
            taken[at] += 1;
            search.pending.push(Reverse(Candidate {
                bound: search.bound_of(&self.groups[at], 0.0),
                id: self.ids[position as usize],
                position: position as usize,
            }));
        }
        search
    }
}

/// The candidates for one request, handed out lowest bound first.
pub(crate) struct Search<'s> {
    shapes: &'s Shapes,
    sought: &'s Sought<'s>,
    method: u32,
    /// Each request segment's literal id, and whether it is non-empty (a capture needs that).
    request: Vec<(u32, bool)>,
    /// Groups not scanned yet.
    queue: BinaryHeap<Reverse<Queued>>,
    /// Candidates not handed out yet.
    pending: BinaryHeap<Reverse<Candidate>>,
}

impl Search<'_> {
    /// The candidate of lowest bound not handed out yet; `None` when none is left with a bound
    /// of at most `ceiling`.
    pub(crate) fn next_within(&mut self, ceiling: f64) -> Option<Candidate> {
        loop {
            let pending = self
                .pending
                .peek()
                .map(|Reverse(candidate)| candidate.bound);
            match self.queue.peek() {
                Some(&Reverse(queued)) if pending.is_none_or(|bound| queued.bound <= bound) => {
                    if queued.bound > ceiling {
                        return None;
                    }
                    self.queue.pop();
                    let group = &self.shapes.groups[queued.group];
                    match queued.least {
                        Some(least) => self.scan(group, least),
                        None => {
                            let least = self.least_differing(group);
                            self.queue.push(Reverse(Queued {
                                bound: self.bound(group, least),
                                least: Some(least),
                                ..queued
                            }));
                        }
                    }
                }
                _ => {
                    let Reverse(candidate) = self.pending.pop()?;
                    return (candidate.bound <= ceiling).then_some(candidate);
                }
            }
        }
    }

    /// How many compared segments differ for every member of `group`.
    fn least_differing(&self, group: &Group) -> usize {
        group
            .columns
            .iter()
            .zip(&self.request)
            .filter(|&(column, &(actual, filled))| !column.may_fit(actual, filled))
            .count()
    }

    /// Adds the members of lowest bound of `group` to the pending candidates. Members are in id
    /// order, so among equal bounds the first ones are kept.
    fn scan(&mut self, group: &Group, least: usize) {
        let width = group.varying.len();
        let fixed = least
            - group
                .varying
                .iter()
                .filter_map(|&at| Some((&group.columns[at], self.request.get(at)?)))
                .filter(|&(column, &(actual, filled))| !column.may_fit(actual, filled))
                .count();
        let compared: Vec<(usize, u32, bool)> = group
            .varying
            .iter()
            .enumerate()
            .filter_map(|(slot, &at)| {
                let &(actual, filled) = self.request.get(at)?;
                Some((slot, actual, filled))
            })
            .collect();
        let known = self.sought.path_fits;
        let mut best: Vec<(usize, u32)> = Vec::with_capacity(PER_GROUP + 1);
        for (member, &position) in group.positions.iter().enumerate() {
            let worst = best.last().map(|&(differing, _)| differing);
            if best.len() == PER_GROUP && worst == Some(least) {
                break;
            }
            if !known.is_empty() && known.binary_search(&position).is_ok() {
                continue;
            }
            let values = &group.values[member * width..(member + 1) * width];
            let differing = fixed
                + compared
                    .iter()
                    .filter(|&&(slot, actual, filled)| {
                        let expected = values[slot];
                        expected != actual && !(expected == CAPTURE && filled)
                    })
                    .count();
            if best.len() == PER_GROUP && worst.is_some_and(|worst| differing >= worst) {
                continue;
            }
            let at = best.partition_point(|&(other, _)| other <= differing);
            best.insert(at, (differing, position));
            best.truncate(PER_GROUP);
        }
        for (differing, position) in best {
            self.pending.push(Reverse(Candidate {
                bound: self.bound(group, differing),
                id: self.shapes.ids[position as usize],
                position: position as usize,
            }));
        }
    }

    /// The bound of a member of `group` with `differing` compared segments that differ.
    fn bound(&self, group: &Group, differing: usize) -> f64 {
        let path = group
            .path
            .distance(self.request.len(), differing, group.prefix);
        self.bound_of(group, path)
    }

    /// The method and path parts of the distance over the most the conditions can weigh.
    fn bound_of(&self, group: &Group, path: f64) -> f64 {
        let method_differs = group.method != ANY_METHOD && group.method != self.method;
        let known = weight::when(method_differs, weight::METHOD) + weight::PATH * path;
        known / (group.weight + self.sought.added_weight)
    }
}

/// The most an example's conditions can weigh in a distance, besides what the request adds:
/// each condition it states, and in postman mode the method, which it always checks.
fn heaviest(example: &CompiledExample, mode: SelectionMode) -> f64 {
    let expression = weight::when(example.expression.is_some(), weight::EXPRESSION)
        + weight::when(crate::tally::requires_scenario(example), weight::SCENARIO);
    match mode {
        SelectionMode::Rules => {
            weight::when(example.method.is_some(), weight::METHOD)
                + weight::PATH
                + weight::when(!example.query.is_empty(), weight::QUERY)
                + weight::when(!example.headers.is_empty(), weight::HEADERS)
                + weight::when(!example.cookies.is_empty(), weight::COOKIES)
                + weight::BODY
                + expression
        }
        SelectionMode::Postman => weight::METHOD + weight::PATH + expression,
    }
}

fn intern(table: &mut HashMap<String, u32>, text: &str) -> u32 {
    if let Some(&id) = table.get(text) {
        return id;
    }
    // Ids stay below the markers; a mock never has four billion distinct segments.
    let id = u32::try_from(table.len())
        .unwrap_or(UNKNOWN - 1)
        .min(UNKNOWN - 1);
    table.insert(text.to_owned(), id);
    id
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;
    use crate::explain::NEAR_MISSES;
    use crate::model::MatchSettings;
    use crate::request::Request;
    use crate::rules;
    use crate::select::{CompiledMock, Selection};
    use crate::tally::Tally;

    const RESOURCES: [&str; 8] = [
        "users", "orders", "invoices", "carts", "payments", "teams", "files", "events",
    ];

    /// Eight example shapes on each of `rounds` times eight resources, with every kind of
    /// condition, so that many examples tie on method and path.
    pub(crate) fn varied(rounds: usize, selection: SelectionMode) -> CompiledMock {
        let mut examples = Vec::new();
        for round in 0..rounds {
            for resource in RESOURCES {
                let r = if round == 0 {
                    resource.to_owned()
                } else {
                    format!("{resource}-{round}")
                };
                let requests: [Value; 8] = [
                    json!({"method": "GET", "path": format!("/api/v1/{r}/:id"),
                           "query": {"fields": {"matches": "all|summary"}}}),
                    json!({"method": "GET", "path": format!("/api/v1/{r}"),
                           "query": {"page": (round % 3).to_string(), "sort": "name"}}),
                    json!({"method": "POST", "path": format!("/api/v1/{r}"),
                           "body": {"type": "json", "value": {"name": r, "count": round}}}),
                    json!({"method": "PUT", "path": format!("/api/v1/{r}/:id/items/{{{{item}}}}"),
                           "headers": {"X-Tenant": "acme"}}),
                    json!({"method": "DELETE", "path": format!("/api/v1/{r}/:id")}),
                    json!({"method": "GET", "path": format!("/api/v1/{r}/search?q=word{}", round % 7)}),
                    json!({"path": format!("/api/v1/{r}/:id/history"),
                           "cookies": {"session": {"present": true}}}),
                    json!({"method": "PATCH", "path": format!("/api/v2/{r}/:id"),
                           "expression": "body.len() > 2"}),
                ];
                for request in requests {
                    let position = examples.len();
                    let example = serde_json::from_value(json!({
                        "name": format!("{position}"),
                        "request": request,
                    }))
                    .expect("a valid example");
                    examples.push((Uuid::from_u128(position as u128 + 1), example));
                }
            }
        }
        let settings = MatchSettings {
            selection,
            ..MatchSettings::default()
        };
        CompiledMock::compile(examples, settings, BTreeMap::new()).expect("compiles")
    }

    /// Requests that match nothing in [`varied`], each off in another way.
    pub(crate) fn misses() -> Vec<Request> {
        let json = [("Content-Type", "application/json")];
        vec![
            Request::from_url("GET", "/api/v1/nothing/here?fields=none", &[], ""),
            Request::from_url("GET", "/api/v1/users/7?fields=none", &[], ""),
            Request::from_url("GET", "/api/v1/orders-3/7/history", &[], ""),
            Request::from_url("DELETE", "/api/v1/users", &[], ""),
            Request::from_url("POST", "/api/v1/teams-2", &json, r#"{"name": "x"}"#),
            Request::from_url("PUT", "/api/v1/files/7/items/9", &[], ""),
            Request::from_url("GET", "/api/v1/events-4/search?q=word9", &[], ""),
            Request::from_url("PATCH", "/api/v2/carts/1", &[], "no"),
            Request::from_url("PATCH", "/api/v1/carts/1", &[], ""),
            Request::from_url("GET", "/", &[], ""),
            Request::from_url("GET", "/api/v2/orders/1/extra/long/path", &[], ""),
            Request::from_url("GET", "/api/v1/userz/7?fields=all", &[], ""),
            Request::from_url("OPTIONS", "/api/v1/invoices-5/", &[], ""),
        ]
    }

    pub(crate) fn near_misses(mock: &CompiledMock, request: &Request) -> Vec<(usize, f64)> {
        match mock.select(request) {
            Selection::NoMatch(explanation) => explanation
                .near_misses
                .iter()
                .map(|miss| (miss.index, miss.distance))
                .collect(),
            other => panic!(
                "{} {}: expected no match, got {other:?}",
                request.method,
                request.url()
            ),
        }
    }

    /// The near misses found by weighing every example with `weigh`, as explaining did before
    /// shortlists.
    pub(crate) fn weighing_every_example(
        mock: &CompiledMock,
        mut weigh: impl FnMut(usize, &mut Tally),
    ) -> Vec<(usize, f64)> {
        let mut ranked: Vec<(f64, Uuid, usize)> = mock
            .examples
            .iter()
            .enumerate()
            .filter_map(|(position, example)| {
                let mut tally = Tally::weighing();
                weigh(position, &mut tally);
                Some((tally.distance()?, example.id, position))
            })
            .collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        ranked
            .into_iter()
            .take(NEAR_MISSES)
            .map(|(distance, _, position)| (position, (distance * 1000.0).round() / 1000.0))
            .collect()
    }

    #[test]
    fn the_shortlist_finds_the_near_misses_that_weighing_every_example_finds() {
        let mock = varied(40, SelectionMode::Rules);
        for request in misses() {
            let state = crate::state::State::EMPTY;
            let incoming = rules::Incoming::new(&request, &state);
            let every = weighing_every_example(&mock, |position, tally| {
                rules::evaluate(&mock.examples[position], &incoming, tally);
            });
            assert_eq!(
                near_misses(&mock, &request),
                every,
                "{} {}",
                request.method,
                request.url()
            );
        }
    }

    #[test]
    fn explaining_a_large_mock_walks_the_conditions_of_a_few_dozen_examples_only() {
        let mock = varied(100, SelectionMode::Rules);
        assert_eq!(mock.len(), 6_400);
        for request in misses() {
            let state = crate::state::State::EMPTY;
            let incoming = rules::Incoming::new(&request, &state);
            let sought = Sought {
                method: &request.method,
                segments: &incoming.segments,
                path_fits: &[],
                added_weight: 0.0,
            };
            let mut walked = 0;
            let explanation = mock.explain(&request, &sought, |_, example, tally| {
                walked += 1;
                rules::evaluate(example, &incoming, tally);
            });
            assert_eq!(explanation.near_misses.len(), NEAR_MISSES);
            // Weighing the shortlist, then describing the three closest.
            assert!(
                walked <= SHORTLIST + NEAR_MISSES,
                "{} {}: {walked} examples walked",
                request.method,
                request.url()
            );
        }
    }
}
