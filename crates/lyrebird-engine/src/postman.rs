//! Postman mode: Postman's selection for imported mocks, as docs/matching.md, "Postman mode",
//! tells it.
//!
//! Control headers come first (`x-mock-response-id`, `-name`, `-code`; examples that share a name
//! compete by the scoring below, then by Postman's rule for duplicates); then every example whose
//! method fits is scored: 100, plus the score of the first path step that fits (exact 0 down to
//! edit distance -30; none drops the example), plus the query score (-10 to +10), plus 5 when
//! body matching is off and the body is equal anyway. Headers and bodies filter only when the
//! mock's settings or the `x-mock-match-request-headers` / `-body` headers ask for it. The highest
//! score wins; ties go to the higher priority, then the first example with status 200 by id, then
//! the first by id. `fuzzy_paths: false` turns off the case, id and edit-distance steps.

use std::borrow::Cow;
use std::cmp::Reverse;

use uuid::Uuid;

use crate::compile::CompiledExample;
use crate::explain::{DecidedBy, Failure, PathStep};
use crate::index::{PathForms, PostmanIndex, edits_allowed, trim_trailing_slash};
use crate::path::request_segments;
use crate::request::Request;
use crate::rules::path_failure;
use crate::select::{CompiledMock, Selection};
use crate::shortlist::Sought;
use crate::state::State;
use crate::tally::{self, Tally, weight};
use crate::value::first_value;

/// The request as postman-mode selection reads it, computed once.
struct Incoming<'r> {
    request: &'r Request,
    state: &'r State,
    forms: PathForms<'r>,
    /// Segments of the path without a trailing slash, for the wildcard step.
    trimmed_segments: Vec<&'r str>,
    /// Each query parameter name once.
    query_names: Vec<&'r str>,
    /// `x-mock-response-code`, when sent (`Some(None)` when it is not a number).
    code: Option<Option<u16>>,
    /// Header names that must match (lower case): the mock's, unless the request names them.
    match_headers: Cow<'r, [String]>,
    match_body: bool,
    fuzzy: bool,
}

impl<'r> Incoming<'r> {
    fn new(mock: &'r CompiledMock, request: &'r Request, state: &'r State) -> Self {
        let mut query_names: Vec<&str> = request
            .query_params()
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        query_names.sort_unstable();
        query_names.dedup();
        let match_headers = match request.header("x-mock-match-request-headers") {
            Some(list) => Cow::Owned(
                list.split(',')
                    .map(|name| name.trim().to_ascii_lowercase())
                    .filter(|name| !name.is_empty())
                    .collect(),
            ),
            None => Cow::Borrowed(mock.match_headers.as_slice()),
        };
        let match_body = match request.header("x-mock-match-request-body") {
            Some(value) => value.trim().eq_ignore_ascii_case("true"),
            None => mock.settings.match_body,
        };
        Self {
            request,
            state,
            forms: PathForms::of_request(&request.path),
            trimmed_segments: request_segments(trim_trailing_slash(&request.path)).collect(),
            query_names,
            code: request
                .header("x-mock-response-code")
                .map(|code| code.trim().parse().ok()),
            match_headers,
            match_body,
            fuzzy: mock.settings.fuzzy_paths,
        }
    }
}

impl Incoming<'_> {
    /// The weight of the conditions this request adds to every example's distance: the
    /// `x-mock-response-code` header, the headers and the body when they must match.
    fn added_weight(&self) -> f64 {
        weight::when(self.code.is_some(), weight::HEADERS)
            + weight::when(!self.match_headers.is_empty(), weight::HEADERS)
            + weight::when(self.match_body, weight::BODY)
    }
}

/// An example's score and its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score {
    total: f64,
    step: PathStep,
    query: f64,
    body_bonus: i32,
}

pub(crate) fn select(
    mock: &CompiledMock,
    index: &PostmanIndex,
    request: &Request,
    state: &State,
) -> Selection {
    let incoming = Incoming::new(mock, request, state);
    if let Some(id) = request.header("x-mock-response-id") {
        return by_id(mock, index, &incoming, id.trim());
    }
    if let Some(name) = request.header("x-mock-response-name") {
        return by_name(mock, index, &incoming, name.trim());
    }
    let mut candidates = Vec::new();
    index.candidates(
        &request.method,
        &incoming.forms,
        &incoming.trimmed_segments,
        incoming.fuzzy,
        &mut candidates,
    );
    let mut best = best_of_groups(
        mock,
        index,
        &incoming,
        candidates.iter().copied(),
        false,
        &mut Vec::new(),
    );
    // Examples of the request's method that only the edit distance fits, but another condition
    // dropped: explaining needs to know that their path fits.
    let mut edit_fits = Vec::new();
    if best.is_none() && incoming.fuzzy {
        // The index offered every group a cheaper step fits: only the edit distance is left.
        let close = index.maybe_close(&request.method, &incoming.forms);
        best = best_of_groups(mock, index, &incoming, close, true, &mut edit_fits);
    }
    let Some((position, score, tied)) = best else {
        let mut path_fits: Vec<u32> = candidates
            .iter()
            .flat_map(|&group| &index.groups[group as usize].members)
            .copied()
            .collect();
        path_fits.append(&mut edit_fits);
        path_fits.sort_unstable();
        path_fits.dedup();
        let sought = Sought {
            method: &request.method,
            segments: &incoming.trimmed_segments,
            path_fits: &path_fits,
            added_weight: incoming.added_weight(),
        };
        return Selection::NoMatch(mock.explain(request, &sought, |position, example, tally| {
            let _ = evaluate(example, index.forms(position), &incoming, true, tally);
        }));
    };
    // Only a path with wildcards captures, and the wildcards step is the one that found it fits
    // segment by segment.
    let captures = if score.step == PathStep::Wildcards {
        mock.examples[position]
            .path
            .captures(&incoming.trimmed_segments)
    } else {
        Vec::new()
    };
    mock.matched(
        position,
        captures,
        DecidedBy::Score {
            score: score.total,
            path_step: score.step,
            path_score: score.step.score(),
            query_score: score.query,
            body_bonus: score.body_bonus,
            candidates: tied,
        },
    )
}

/// The captures of the request path, when the example's path fits it segment by segment.
fn captures(example: &CompiledExample, incoming: &Incoming<'_>) -> Vec<(String, String)> {
    if example.path.matches(&incoming.trimmed_segments) {
        example.path.captures(&incoming.trimmed_segments)
    } else {
        Vec::new()
    }
}

/// The best-scoring example among `positions`: the cheap path steps first, the edit distance
/// only when they fit none (and fuzzy paths are on).
fn best_scored(
    mock: &CompiledMock,
    index: &PostmanIndex,
    incoming: &Incoming<'_>,
    positions: &[u32],
) -> Option<(usize, Score, usize)> {
    let cheap = best_of(mock, index, incoming, positions.iter().copied(), false);
    if cheap.is_some() || !incoming.fuzzy {
        return cheap;
    }
    best_of(mock, index, incoming, positions.iter().copied(), true)
}

/// The best-scoring example among `positions`, with how many fitted.
fn best_of(
    mock: &CompiledMock,
    index: &PostmanIndex,
    incoming: &Incoming<'_>,
    positions: impl Iterator<Item = u32>,
    edit_distance: bool,
) -> Option<(usize, Score, usize)> {
    let mut best = Best::default();
    for position in positions {
        let position = position as usize;
        let mut tally = Tally::fast();
        let example = &mock.examples[position];
        if let Ok(score) = evaluate(
            example,
            index.forms(position),
            incoming,
            edit_distance,
            &mut tally,
        ) {
            best.offer(mock, position, score, 1);
        }
    }
    best.found()
}

/// The best-scoring example of the `groups`, with how many examples fitted. Examples whose path
/// fitted but another condition dropped go to `path_fits`.
///
/// A group is scored once, by its first member, which also wins the ties among its members:
/// only `x-mock-response-code` tells them apart, and then each member is scored.
fn best_of_groups(
    mock: &CompiledMock,
    index: &PostmanIndex,
    incoming: &Incoming<'_>,
    groups: impl Iterator<Item = u32>,
    edit_distance: bool,
    path_fits: &mut Vec<u32>,
) -> Option<(usize, Score, usize)> {
    let mut best = Best::default();
    for group in groups {
        let group = &index.groups[group as usize];
        let (scored, alike) = if incoming.code.is_some() {
            (&group.members[..], 1)
        } else {
            (&group.members[..1], group.members.len())
        };
        for &position in scored {
            let position = position as usize;
            let mut tally = Tally::fast();
            match evaluate(
                &mock.examples[position],
                &group.forms,
                incoming,
                edit_distance,
                &mut tally,
            ) {
                Ok(score) => best.offer(mock, position, score, alike),
                Err(Some(_)) if alike == 1 => path_fits.push(position as u32),
                Err(Some(_)) => path_fits.extend_from_slice(&group.members),
                Err(None) => {}
            }
        }
    }
    best.found()
}

/// The best example offered so far, and how many fitted.
#[derive(Default)]
struct Best {
    best: Option<(usize, Score)>,
    fitted: usize,
}

impl Best {
    /// An example that scored `score`, for itself and `alike - 1` examples it wins the ties of.
    fn offer(&mut self, mock: &CompiledMock, position: usize, score: Score, alike: usize) {
        self.fitted += alike;
        let better = match self.best {
            None => true,
            Some((current, current_score)) => outranks(
                (&mock.examples[position], position, score),
                (&mock.examples[current], current, current_score),
            ),
        };
        if better {
            self.best = Some((position, score));
        }
    }

    fn found(self) -> Option<(usize, Score, usize)> {
        let fitted = self.fitted;
        self.best.map(|(position, score)| (position, score, fitted))
    }
}

/// Higher score, then an example requiring a scenario state, then [`preference`].
fn outranks(
    (a, a_position, a_score): (&CompiledExample, usize, Score),
    (b, b_position, b_score): (&CompiledExample, usize, Score),
) -> bool {
    a_score
        .total
        .total_cmp(&b_score.total)
        .then(tally::requires_scenario(a).cmp(&tally::requires_scenario(b)))
        .then(preference(b, b_position).cmp(&preference(a, a_position)))
        .is_gt()
}

/// Among examples that score alike, the lowest comes first: the higher priority, then status
/// 200, then the lower id, then the earlier position (the first found wins a full tie).
pub(crate) fn preference(
    example: &CompiledExample,
    position: usize,
) -> (Reverse<i32>, bool, Uuid, usize) {
    (
        Reverse(example.priority),
        example.status != 200,
        example.id,
        position,
    )
}

/// Postman's tie-break among examples named alike: the first with status 200 by id, else the
/// first by id.
fn first_preferred<'e>(
    examples: impl Iterator<Item = (usize, &'e CompiledExample)>,
) -> Option<usize> {
    examples
        .min_by_key(|(_, example)| (example.status != 200, example.id))
        .map(|(position, _)| position)
}

fn method_fits(example: &CompiledExample, request: &Request) -> bool {
    example
        .method
        .as_ref()
        .is_none_or(|method| *method == request.method)
}

fn by_id(
    mock: &CompiledMock,
    index: &PostmanIndex,
    incoming: &Incoming<'_>,
    id: &str,
) -> Selection {
    let found = uuid::Uuid::parse_str(id)
        .ok()
        .and_then(|id| index.with_id(id))
        .filter(|&position| method_fits(&mock.examples[position], incoming.request));
    match found {
        Some(position) => mock.matched(
            position,
            Vec::new(),
            DecidedBy::ResponseId {
                id: mock.examples[position].id,
            },
        ),
        None => Selection::UnknownResponseId { id: id.to_owned() },
    }
}

/// The examples of that name (and method, and status when asked) compete by the usual scoring,
/// so that a name shared by many requests ("Success") answers with the one the request is aimed
/// at; when none fits the path, Postman's rule for duplicates chooses.
fn by_name(
    mock: &CompiledMock,
    index: &PostmanIndex,
    incoming: &Incoming<'_>,
    name: &str,
) -> Selection {
    let named: Vec<u32> = index
        .named(name)
        .iter()
        .copied()
        .filter(|&position| {
            let example = &mock.examples[position as usize];
            method_fits(example, incoming.request)
                && incoming
                    .code
                    .is_none_or(|code| code == Some(example.status))
        })
        .collect();
    let scored = best_scored(mock, index, incoming, &named);
    let chosen = match scored {
        Some((position, score, _)) => Some((position, Some(score.step))),
        None => first_preferred(
            named
                .iter()
                .map(|&position| (position as usize, &mock.examples[position as usize])),
        )
        .map(|position| (position, None)),
    };
    match chosen {
        Some((position, path_step)) => mock.matched(
            position,
            captures(&mock.examples[position], incoming),
            DecidedBy::ResponseName {
                name: name.to_owned(),
                candidates: named.len(),
                path_step,
            },
        ),
        None => Selection::UnknownResponseName {
            name: name.to_owned(),
        },
    }
}

/// Scores one example, recording its conditions in `tally`. A dropped example gives the path step
/// that fitted, when it got that far: explanations then know its path fits.
fn evaluate(
    example: &CompiledExample,
    forms: &PathForms<'_>,
    incoming: &Incoming<'_>,
    edit_distance: bool,
    tally: &mut Tally,
) -> Result<Score, Option<PathStep>> {
    let request = incoming.request;
    if !tally.check(weight::METHOD, method_fits(example, request), || {
        Failure::Method {
            expected: example.method.clone().unwrap_or_default(),
            actual: request.method.clone(),
        }
    }) {
        return Err(None);
    }
    let step = path_step(example, forms, incoming, edit_distance);
    let path_distance = if step.is_some() {
        0.0
    } else if tally.is_weighing() {
        // A path no step fits still has some distance, even when its segments all fit.
        example
            .path
            .distance(&incoming.trimmed_segments, false)
            .max(f64::MIN_POSITIVE)
    } else {
        1.0
    };
    if !tally.add(weight::PATH, path_distance, || {
        path_failure(
            example,
            example.path.difference(&incoming.trimmed_segments, false),
        )
    }) {
        return Err(None);
    }
    if !tally::scenario(tally, example, incoming.state) {
        return Err(step);
    }
    if let Some(code) = incoming.code
        && !tally.check(weight::HEADERS, code == Some(example.status), || {
            Failure::Header {
                name: "x-mock-response-code".to_owned(),
                expected: example.status.to_string(),
                actual: request.header("x-mock-response-code").map(str::to_owned),
            }
        })
    {
        return Err(step);
    }
    if !headers_fit(example, incoming, tally) {
        return Err(step);
    }
    let body = body_result(example, request);
    let body_equal = body.is_ok();
    if incoming.match_body {
        let fits = match body {
            Ok(()) => {
                tally.pass(weight::BODY);
                true
            }
            Err(failure) => tally.check(weight::BODY, false, || failure),
        };
        if !fits {
            return Err(step);
        }
    }
    if let Some(expression) = &example.expression
        && (tally.failed() || !tally::expression(tally, expression, request))
    {
        return Err(step);
    }
    let Some(step) = step.filter(|_| !tally.failed()) else {
        return Err(step);
    };
    let query = query_score(example, incoming);
    let body_bonus = if !incoming.match_body && body_equal && has_body_condition(example) {
        5
    } else {
        0
    };
    Ok(Score {
        total: 100.0 + f64::from(step.score()) + query + f64::from(body_bonus),
        step,
        query,
        body_bonus,
    })
}

fn has_body_condition(example: &CompiledExample) -> bool {
    !matches!(example.body, crate::body::BodyCheck::None)
}

/// The body compared as in rules mode; a form request is compared by its pooled parameters.
fn body_result(example: &CompiledExample, request: &Request) -> Result<(), Failure> {
    match (request.form_params(), example.body.form_params()) {
        (Some(pool), Some(params)) => {
            let mut tally = Tally::explaining();
            tally.values(weight::BODY, params, pool, tally::form_failure);
            tally.into_failure().map_or(Ok(()), Err)
        }
        _ => example.body.check(request),
    }
}

/// The headers named by the mock or by `x-mock-match-request-headers` must agree: the example's
/// condition must accept the request's value, and a header the example says nothing about must
/// be absent from the request too.
fn headers_fit(example: &CompiledExample, incoming: &Incoming<'_>, tally: &mut Tally) -> bool {
    if incoming.match_headers.is_empty() {
        return true;
    }
    let headers = &incoming.request.headers;
    let mut failing = 0usize;
    let mut first = None;
    for name in incoming.match_headers.iter() {
        let fits = match example.headers.iter().find(|(n, _)| n == name) {
            Some((_, check)) => check.accepts(crate::value::values_of(headers, name)),
            None => first_value(headers, name).is_none(),
        };
        if !fits {
            failing += 1;
            first.get_or_insert(name);
        }
    }
    let distance = failing as f64 / incoming.match_headers.len() as f64;
    tally.add(weight::HEADERS, distance, || {
        let name = first.cloned().unwrap_or_default();
        Failure::Header {
            expected: example
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map_or_else(|| "absent".to_owned(), |(_, check)| check.describe()),
            actual: first_value(headers, &name).map(str::to_owned),
            name,
        }
    })
}

/// The first path step that fits, cheapest first.
fn path_step(
    example: &CompiledExample,
    forms: &PathForms<'_>,
    incoming: &Incoming<'_>,
    edit_distance: bool,
) -> Option<PathStep> {
    let request = &incoming.forms;
    let fuzzy = incoming.fuzzy;
    if example.path.has_wildcards() {
        if example.path.matches(&incoming.trimmed_segments) {
            return Some(PathStep::Wildcards);
        }
    } else if forms.exact == request.exact {
        return Some(PathStep::Exact);
    } else if trim_trailing_slash(&forms.exact) == trim_trailing_slash(&request.exact) {
        return Some(PathStep::TrailingSlash);
    } else if fuzzy && forms.lower == request.lower {
        return Some(PathStep::CaseInsensitive);
    } else if fuzzy && forms.lower_trimmed() == request.lower_trimmed() {
        return Some(PathStep::CaseAndTrailingSlash);
    }
    if !fuzzy {
        return None;
    }
    if forms.ids_removed == request.ids_removed {
        return Some(PathStep::IdsRemoved);
    }
    if forms.ids_and_slash_removed() == request.ids_and_slash_removed() {
        return Some(PathStep::IdsAndTrailingSlashRemoved);
    }
    (edit_distance && close_by_edit_distance(forms.lower_trimmed(), request.lower_trimmed()))
        .then_some(PathStep::EditDistance)
}

/// Within a quarter of the longer path's length in single-character edits. The scan of this step
/// has ruled most examples out by their character counts ([`PostmanIndex::maybe_close`]); the
/// comparison fills only the cells within the allowed distance of the diagonal and stops at the
/// first row where none is close enough.
fn close_by_edit_distance(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        edits_allowed(a.len(), b.len())
            .is_some_and(|allowed| within_edits(a.as_bytes(), b.as_bytes(), allowed))
    } else {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        edits_allowed(a.len(), b.len()).is_some_and(|allowed| within_edits(&a, &b, allowed))
    }
}

/// Whether at most `allowed` single-character edits turn `a` into `b`. Distances above `allowed`
/// are all `allowed + 1`; cells further than `allowed` from the diagonal are never filled, since
/// their distance is at least that far.
fn within_edits<T: PartialEq>(a: &[T], b: &[T], allowed: usize) -> bool {
    let over = allowed + 1;
    let mut previous: Vec<usize> = (0..=b.len()).map(|j| j.min(over)).collect();
    let mut current = vec![over; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        let row = i + 1;
        let from = row.saturating_sub(allowed).max(1);
        let to = (row + allowed).min(b.len());
        current[from - 1] = if from == 1 { row.min(over) } else { over };
        let mut closest = current[from - 1];
        for j in from..=to {
            let substitution = previous[j - 1] + usize::from(*ca != b[j - 1]);
            let cell = substitution
                .min(previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(over);
            current[j] = cell;
            closest = closest.min(cell);
        }
        if let Some(next) = current.get_mut(to + 1) {
            *next = over;
        }
        if closest > allowed {
            return false;
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()] <= allowed
}

/// Step 4: +10 when every parameter matches, a share of 10 when some do, and minus the number
/// missing (at most 10) when none do.
fn query_score(example: &CompiledExample, incoming: &Incoming<'_>) -> f64 {
    let actual = incoming.request.query_params();
    let (mut matches, mut partials, mut missing) = (0usize, 0usize, 0usize);
    for (name, check) in &example.query {
        let mut values = crate::value::values_of(actual, name).peekable();
        let present = values.peek().is_some();
        if check.accepts(values) {
            matches += 1;
        } else if present {
            partials += 1;
        } else {
            missing += 1;
        }
    }
    missing += incoming
        .query_names
        .iter()
        .filter(|name| !example.query.iter().any(|(n, _)| n == *name))
        .count();
    if partials == 0 && missing == 0 {
        10.0
    } else if matches > 0 {
        10.0 * matches as f64 / (matches + partials + missing) as f64
    } else {
        -(missing.min(10) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use crate::index::Letters;
    use crate::model::{
        BodyMatch, Example, MatchSettings, ScenarioStep, SelectionMode, ValueMatch,
    };
    use crate::select::Index;
    use crate::shortlist::tests::{misses, near_misses, varied, weighing_every_example};

    #[test]
    fn the_shortlist_finds_the_near_misses_that_weighing_every_example_finds() {
        let mock = varied(40, SelectionMode::Postman);
        let Index::Postman(index) = &mock.index else {
            panic!("a postman index");
        };
        // No example answers 418; asking for the body to match adds its weight to every example.
        let asking = [
            [
                ("x-mock-response-code", "418"),
                ("x-mock-match-request-body", "false"),
            ],
            [
                ("x-mock-response-code", "418"),
                ("x-mock-match-request-body", "true"),
            ],
        ];
        for headers in asking {
            for mut request in misses() {
                request
                    .headers
                    .extend(headers.map(|(name, value)| (name.to_owned(), value.to_owned())));
                let state = crate::state::State::EMPTY;
                let incoming = Incoming::new(&mock, &request, &state);
                let every = weighing_every_example(&mock, |position, tally| {
                    let _ = evaluate(
                        &mock.examples[position],
                        index.forms(position),
                        &incoming,
                        true,
                        tally,
                    );
                });
                // Examples of another method that only the edit-distance step fits are ranked by
                // their segments (a scan of edit distances is what explaining avoids), so among
                // examples just as close, others may be named.
                let distances = |misses: Vec<(usize, f64)>| -> Vec<f64> {
                    misses.into_iter().map(|(_, distance)| distance).collect()
                };
                assert_eq!(
                    distances(near_misses(&mock, &request)),
                    distances(every),
                    "{} {} {headers:?}",
                    request.method,
                    request.url()
                );
            }
        }
    }

    /// Selection as it was before examples were grouped, kept to compare with: every example
    /// scored by itself, in position order, the first of the best by score, scenario, priority,
    /// status 200 and id winning.
    fn select_one_by_one(mock: &CompiledMock, request: &Request) -> Selection {
        let Index::Postman(index) = &mock.index else {
            panic!("a postman index");
        };
        let state = crate::state::State::EMPTY;
        let _budget = crate::expr::RequestBudget::start();
        let incoming = Incoming::new(mock, request, &state);
        let examples_of = |groups: &mut dyn Iterator<Item = u32>| -> Vec<u32> {
            let mut positions: Vec<u32> = groups
                .flat_map(|group| index.groups[group as usize].members.iter().copied())
                .collect();
            positions.sort_unstable();
            positions
        };
        let mut groups = Vec::new();
        index.candidates(
            &request.method,
            &incoming.forms,
            &incoming.trimmed_segments,
            incoming.fuzzy,
            &mut groups,
        );
        let candidates = examples_of(&mut groups.into_iter());
        let best_of = |positions: &[u32], edit_distance: bool, path_fits: &mut Vec<u32>| {
            let mut best: Option<(usize, Score)> = None;
            let mut fitted = 0;
            for &position in positions {
                let position = position as usize;
                let example = &mock.examples[position];
                let mut tally = Tally::fast();
                let score = match evaluate(
                    example,
                    index.forms(position),
                    &incoming,
                    edit_distance,
                    &mut tally,
                ) {
                    Ok(score) => score,
                    Err(Some(_)) => {
                        path_fits.push(position as u32);
                        continue;
                    }
                    Err(None) => continue,
                };
                fitted += 1;
                let better = best.is_none_or(|(current, current_score)| {
                    let other = &mock.examples[current];
                    score
                        .total
                        .total_cmp(&current_score.total)
                        .then(
                            tally::requires_scenario(example).cmp(&tally::requires_scenario(other)),
                        )
                        .then(example.priority.cmp(&other.priority))
                        .then((example.status == 200).cmp(&(other.status == 200)))
                        .then(other.id.cmp(&example.id))
                        .is_gt()
                });
                if better {
                    best = Some((position, score));
                }
            }
            best.map(|(position, score)| (position, score, fitted))
        };
        let mut best = best_of(&candidates, false, &mut Vec::new());
        let mut edit_fits = Vec::new();
        if best.is_none() && incoming.fuzzy {
            let close = examples_of(&mut index.maybe_close(&request.method, &incoming.forms));
            best = best_of(&close, true, &mut edit_fits);
        }
        let Some((position, score, tied)) = best else {
            let mut path_fits = candidates;
            path_fits.append(&mut edit_fits);
            path_fits.sort_unstable();
            path_fits.dedup();
            let sought = Sought {
                method: &request.method,
                segments: &incoming.trimmed_segments,
                path_fits: &path_fits,
                added_weight: incoming.added_weight(),
            };
            return Selection::NoMatch(mock.explain(
                request,
                &sought,
                |position, example, tally| {
                    let _ = evaluate(example, index.forms(position), &incoming, true, tally);
                },
            ));
        };
        mock.matched(
            position,
            captures(&mock.examples[position], &incoming),
            DecidedBy::Score {
                score: score.total,
                path_step: score.step,
                path_score: score.step.score(),
                query_score: score.query,
                body_bonus: score.body_bonus,
                candidates: tied,
            },
        )
    }

    /// The saved responses of a Postman collection as examples, read loosely: each response's
    /// original request (else its item's) gives the method, the path without scheme, host or
    /// `{{baseUrl}}`, the query and a raw body; the response gives the name and status. Enough
    /// for mocks shaped like imported ones (many responses to one request), without the
    /// importer's finer rules.
    fn collection_examples(collection: &Value) -> Vec<Example> {
        fn walk<'c>(items: &'c Value, out: &mut Vec<(&'c Value, &'c Value)>) {
            for item in items.as_array().into_iter().flatten() {
                walk(&item["item"], out);
                for response in item["response"].as_array().into_iter().flatten() {
                    let request = match &response["originalRequest"] {
                        Value::Null => &item["request"],
                        original => original,
                    };
                    out.push((request, response));
                }
            }
        }
        let mut saved = Vec::new();
        walk(&collection["item"], &mut saved);
        saved
            .into_iter()
            .filter_map(|(request, response)| {
                let url = &request["url"];
                let (path, query) = match url["path"].as_array() {
                    Some(segments) => {
                        let segments: Vec<&str> = segments
                            .iter()
                            .filter_map(|segment| segment.as_str().or(segment["value"].as_str()))
                            .collect();
                        let query = url["query"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|pair| pair["disabled"] != true)
                            .filter_map(|pair| {
                                let value = pair["value"].as_str().unwrap_or_default();
                                Some((pair["key"].as_str()?.to_owned(), value.to_owned()))
                            })
                            .collect();
                        (format!("/{}", segments.join("/")), query)
                    }
                    None => {
                        let raw = url.as_str().or(url["raw"].as_str()).unwrap_or("/");
                        let without_host = match raw.split_once("://") {
                            Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
                            None if raw.starts_with("{{") => {
                                raw.find("}}").map_or("/", |at| &raw[at + 2..])
                            }
                            None => raw,
                        };
                        let (path, query) =
                            without_host.split_once('?').unwrap_or((without_host, ""));
                        (path.to_owned(), crate::request::parse_urlencoded(query))
                    }
                };
                let query: serde_json::Map<String, Value> = query
                    .into_iter()
                    .map(|(name, value)| (name, Value::String(value)))
                    .collect();
                let body = match request["body"]["raw"].as_str() {
                    Some(raw) if !raw.is_empty() => json!({"type": "text", "value": raw}),
                    _ => json!({"type": "none"}),
                };
                let example = serde_json::from_value(json!({
                    "name": response["name"].as_str().unwrap_or("response"),
                    "request": {
                        "method": request["method"].as_str().unwrap_or("GET"),
                        "path": if path.is_empty() { "/" } else { path.as_str() },
                        "query": query,
                        "body": body,
                    },
                    "response": {"status": response["code"].as_u64().unwrap_or(200)},
                }))
                .ok()?;
                crate::compile::validate_example(&example, &BTreeMap::new())
                    .is_ok()
                    .then_some(example)
            })
            .collect()
    }

    /// Requests aimed at an example and around it: its own, with other ids, other query
    /// parameters, other methods, a trailing slash, another case, a typo, a percent-encoded
    /// letter, a segment more or less, and with Postman's control headers.
    fn requests_around(example: &Example) -> Vec<Request> {
        let pattern = &example.request;
        let filled = |id: &str| -> String {
            let path = pattern.path.split('?').next().unwrap_or("/");
            let segments: Vec<&str> = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with(':') || segment.starts_with('{') {
                        id
                    } else {
                        segment
                    }
                })
                .collect();
            segments.join("/")
        };
        let query: Vec<(String, String)> = pattern
            .query
            .iter()
            .map(|(name, value)| match value {
                ValueMatch::Equals(value) => (name.clone(), value.clone()),
                ValueMatch::Rule(_) => (name.clone(), "x".to_owned()),
            })
            .collect();
        let encode = |pairs: &[(String, String)]| -> String {
            pairs
                .iter()
                .map(|(name, value)| format!("{name}={}", value.replace(['&', '#', ' '], "_")))
                .collect::<Vec<_>>()
                .join("&")
        };
        let method = pattern.method.as_deref().unwrap_or("GET");
        let body = match &pattern.body {
            BodyMatch::Text { value } => value.clone(),
            _ => String::new(),
        };
        let path = filled("42");
        let mut urls = vec![
            format!("{path}?{}", encode(&query)),
            format!("{}?{}", filled("a1b2-c3"), encode(&query)),
            format!("{}?{}", filled("name"), encode(&query)),
            path.clone(),
            format!("{path}?{}&extra=1", encode(&query)),
            format!("{path}/"),
            path.to_uppercase(),
            format!("{path}/more"),
            path.replacen('e', "%65", 1),
            path.rsplit_once('/')
                .map_or("/", |(rest, _)| rest)
                .to_owned(),
            format!("{}q", &path[..path.len().saturating_sub(1)]),
        ];
        if let Some((_, rest)) = query.split_first() {
            urls.push(format!("{path}?{}", encode(rest)));
            let mut changed = query.clone();
            changed[0].1.push_str("-other");
            urls.push(format!("{path}?{}", encode(&changed)));
        }
        let status = example.response.status.to_string();
        let mut requests: Vec<Request> = urls
            .iter()
            .map(|url| Request::from_url(method, url, &[], body.as_str()))
            .collect();
        for other in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            requests.push(Request::from_url(other, &urls[0], &[], body.as_str()));
        }
        let controls: [&[(&str, &str)]; 6] = [
            &[("x-mock-response-code", &status)],
            &[("x-mock-response-code", "404")],
            &[("x-mock-response-code", "two hundred")],
            &[("x-mock-match-request-body", "true")],
            &[("x-mock-match-request-headers", "accept")],
            &[
                ("x-mock-match-request-headers", "accept"),
                ("accept", "text/plain"),
            ],
        ];
        for headers in controls {
            requests.push(Request::from_url(method, &urls[0], headers, body.as_str()));
            requests.push(Request::from_url(method, &urls[5], headers, ""));
        }
        requests
    }

    #[test]
    fn grouped_examples_are_selected_as_if_each_were_scored_by_itself() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../lyrebird-import/tests/corpus/postman");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("the importer's corpus of Postman collections")
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(files.len() >= 10, "{} collections", files.len());
        let mut grouped = 0;
        for file in files {
            let collection: Value =
                serde_json::from_slice(&std::fs::read(&file).expect("readable")).expect("JSON");
            let examples = collection_examples(&collection);
            // As read; then with priorities, and some examples requiring a scenario's state
            // (which they are in), so that ties inside and across groups go further.
            for varied in [false, true] {
                let sources: Vec<(Uuid, Example)> = examples
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(position, mut example)| {
                        if varied {
                            example.priority = Some((position % 3) as i32);
                            example.scenario = (position % 4 == 0).then(|| ScenarioStep {
                                name: "flow".to_owned(),
                                requires: Some("started".to_owned()),
                                then: None,
                            });
                        }
                        (Uuid::from_u128(position as u128 + 1), example)
                    })
                    .collect();
                for fuzzy_paths in [true, false] {
                    let settings = MatchSettings {
                        selection: SelectionMode::Postman,
                        fuzzy_paths,
                        ..MatchSettings::default()
                    };
                    let mock = CompiledMock::compile(sources.clone(), settings, BTreeMap::new())
                        .expect("compiles");
                    let Index::Postman(index) = &mock.index else {
                        panic!("a postman index");
                    };
                    grouped += mock.len() - index.groups.len();
                    for (_, example) in &sources {
                        for request in requests_around(example) {
                            assert_eq!(
                                mock.select(&request),
                                select_one_by_one(&mock, &request),
                                "{}: {} {} {:?}",
                                file.display(),
                                request.method,
                                request.url(),
                                request.headers
                            );
                        }
                    }
                }
            }
        }
        // The corpus's collections keep many responses to one request.
        assert!(grouped > 200, "{grouped} examples scored with others");
    }

    fn close(a: &str, b: &str) -> bool {
        let forms = |path: &str| PathForms::of_request(path).lower_trimmed().to_owned();
        close_by_edit_distance(&forms(a), &forms(b))
    }

    #[test]
    fn edit_distance_allows_a_quarter_of_the_length() {
        assert!(close("/users/profile", "/users/profle"));
        assert!(close("/Users/Profile", "/users/prof1le"));
        assert!(close("/café/crème", "/cafe/crème"));
        assert!(!close("/users", "/orders"));
        assert!(!close("/a", "/b/c/d/e/f"));
    }

    /// Levenshtein's distance, every cell filled.
    fn edits(a: &[char], b: &[char]) -> usize {
        let mut previous: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut current = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                current[j + 1] = (previous[j] + usize::from(ca != cb))
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1);
            }
            previous = current;
        }
        previous[b.len()]
    }

    proptest::proptest! {
        #[test]
        fn the_banded_comparison_agrees_with_the_full_one(
            a in "[ab/é]{0,14}",
            b in "[ab/é]{0,14}",
            allowed in 0usize..6,
        ) {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            proptest::prop_assert_eq!(within_edits(&a, &b, allowed), edits(&a, &b) <= allowed);
        }

        #[test]
        fn the_character_counts_never_rule_out_a_close_path(
            a in "/[a-z0-9é/]{0,30}",
            b in "/[a-z0-9é/]{0,30}",
        ) {
            let (chars_a, chars_b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            let distance = edits(&chars_a, &chars_b);
            let close = distance <= chars_a.len().max(chars_b.len()) / 4;
            let (letters_a, letters_b) = (Letters::of(&a), Letters::of(&b));
            proptest::prop_assert!(letters_a.fewest_edits(&letters_b) <= distance);
            proptest::prop_assert!(letters_a.may_be_close(&letters_b) || !close);
            proptest::prop_assert_eq!(close_by_edit_distance(&a, &b), close);
        }
    }
}
