//! Rules mode (docs/matching.md, "Rules mode"), with its two lists of priority levels.
//!
//! Each example that fits a request fits at one priority level (one list for form requests, one
//! for the others: "Levels with a form body" and "Levels without a form body"); the lowest level
//! wins. Inside a level the higher explicit priority wins, then the example that matched more
//! conditions, then the lower id, which is creation order ("Ties"). `docs/matching.md` explains
//! the levels with examples.

use crate::body::BodyCheck;
use crate::compile::CompiledExample;
use crate::explain::{DecidedBy, Failure};
use crate::index::PathIndex;
use crate::path::Segment;
use crate::request::Request;
use crate::select::{CompiledMock, Selection};
use crate::shortlist::Sought;
use crate::state::State;
use crate::tally::{
    self, Tally, cookie_failure, form_failure, header_failure, query_failure, weight,
};

/// The priority levels without a form body, 1-based (docs/matching.md, "Levels without a form
/// body").
pub(crate) const LEVELS: [&str; 11] = [
    "url equal, body equal as text",
    "url equal, body equal as JSON",
    "url equal, body equal as XML",
    "url equal, expression satisfied",
    "url equal, catch-all body",
    "path equal and query parameters match, body equal as text",
    "path equal and query parameters match, body equal as JSON",
    "path equal and query parameters match, body equal as XML",
    "path equal and query parameters match, expression satisfied",
    "path equal and query parameters match, catch-all body",
    "url starts with the rule's url, expression reading the url satisfied",
];

/// The priority levels with a form body, 1-based (docs/matching.md, "Levels with a form body").
pub(crate) const FORM_LEVELS: [&str; 4] = [
    "url equal, no form parameters in the rule",
    "path equal, form parameters (query and body pooled) match",
    "path equal, expression satisfied",
    "url starts with the rule's url, expression reading the url satisfied",
];

/// The request as selection reads it, split once.
pub(crate) struct Incoming<'r> {
    pub(crate) request: &'r Request,
    /// The mock's state the request meets (scenarios).
    pub(crate) state: &'r State,
    pub(crate) segments: Vec<&'r str>,
    /// The pooled query and body parameters of a form request; `None` otherwise.
    pub(crate) form: Option<&'r [(String, String)]>,
}

impl<'r> Incoming<'r> {
    pub(crate) fn new(request: &'r Request, state: &'r State) -> Self {
        Self {
            request,
            state,
            segments: crate::path::request_segments(&request.path).collect(),
            form: request.form_params(),
        }
    }
}

/// How an example fits: its level and how many conditions it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fit {
    pub(crate) level: u8,
    pub(crate) conditions: usize,
}

/// Checks every condition of `example` in the order a reader would, recording them in `tally`;
/// returns the level when all fit.
pub(crate) fn evaluate(
    example: &CompiledExample,
    incoming: &Incoming<'_>,
    tally: &mut Tally,
) -> Option<Fit> {
    let request = incoming.request;
    if let Some(method) = &example.method
        && !tally.check(weight::METHOD, *method == request.method, || {
            Failure::Method {
                expected: method.clone(),
                actual: request.method.clone(),
            }
        })
    {
        return None;
    }
    if !path(example, incoming, tally) || !tally::scenario(tally, example, incoming.state) {
        return None;
    }
    let form_params = incoming.form.map(|pool| (pool, example.body.form_params()));
    let query_pool = incoming.form.unwrap_or(request.query_params());
    let going_on = tally.values(weight::QUERY, &example.query, query_pool, query_failure)
        && tally.values(
            weight::HEADERS,
            &example.headers,
            &request.headers,
            header_failure,
        )
        // Cookies are parsed from the headers only for examples that ask about them.
        && (example.cookies.is_empty()
            || tally.values(
                weight::COOKIES,
                &example.cookies,
                request.cookies(),
                cookie_failure,
            ));
    if !going_on {
        return None;
    }
    let body_fits = match form_params {
        Some((pool, Some(params))) => tally.values(weight::BODY, params, pool, form_failure),
        Some((_, None)) => tally.check(weight::BODY, form_compatible(&example.body), || {
            Failure::Body {
                location: None,
                message: "a form request can only match a form, form-like text, catch-all or bodiless rule"
                    .to_owned(),
            }
        }),
        None => match example.body.check(request) {
            Ok(()) => {
                tally.pass(weight::BODY);
                true
            }
            Err(failure) => tally.check(weight::BODY, false, || failure),
        },
    };
    if !body_fits {
        return None;
    }
    // Expressions are the costliest condition: run only when everything else fits.
    if let Some(expression) = &example.expression
        && (tally.failed() || !tally::expression(tally, expression, request))
    {
        return None;
    }
    if tally.failed() {
        return None;
    }
    Some(Fit {
        level: level(example, incoming),
        conditions: conditions(example),
    })
}

fn path(example: &CompiledExample, incoming: &Incoming<'_>, tally: &mut Tally) -> bool {
    let segments = &incoming.segments;
    let distance = if tally.is_weighing() {
        example.path.distance(segments, example.prefix)
    } else if fits(example, segments) {
        0.0
    } else {
        1.0
    };
    tally.add(weight::PATH, distance, || {
        path_failure(example, example.path.difference(segments, example.prefix))
    })
}

fn fits(example: &CompiledExample, segments: &[&str]) -> bool {
    if example.prefix {
        example.path.matches_prefix(segments)
    } else {
        example.path.matches(segments)
    }
}

/// The path failure to report, from the difference found while explaining.
pub(crate) fn path_failure(
    example: &CompiledExample,
    difference: Option<crate::path::PathDifference>,
) -> Failure {
    match difference {
        Some(difference) => Failure::Path {
            segment: difference.segment,
            expected: difference.expected,
            actual: difference.actual,
        },
        None => Failure::Path {
            segment: 1,
            expected: example.path.raw.clone(),
            actual: None,
        },
    }
}

/// Rules without form parameters that a form request can still match (level 1 with a form body).
fn form_compatible(body: &BodyCheck) -> bool {
    matches!(body, BodyCheck::None | BodyCheck::Any)
}

/// The priority level of an example that fits, in the list for form requests or the other.
fn level(example: &CompiledExample, incoming: &Incoming<'_>) -> u8 {
    let url_equal = url_equal(example, incoming.request);
    if incoming.form.is_some() {
        return if example.prefix {
            4
        } else if example.expression.is_some() {
            3
        } else if url_equal && form_compatible(&example.body) {
            1
        } else {
            2
        };
    }
    if example.prefix {
        return 11;
    }
    let by_body = match &example.body {
        BodyCheck::Text { .. } => 1,
        BodyCheck::Json { .. } => 2,
        BodyCheck::Xml(_) => 3,
        _ if example.expression.is_some() => 4,
        BodyCheck::None if incoming.request.body.is_empty() => 1,
        BodyCheck::None | BodyCheck::Any | BodyCheck::Form(_) => 5,
    };
    if url_equal { by_body } else { by_body + 5 }
}

/// "url equal": every query parameter of the request is one the example names, so the example
/// spells out the whole query rather than a subset of it.
fn url_equal(example: &CompiledExample, request: &Request) -> bool {
    request.query_params().iter().all(|(name, _)| {
        example
            .query
            .iter()
            .any(|(n, check)| n == name && check.requires_presence())
    })
}

/// The conditions an example states: method, literal path segments, query, headers, cookies,
/// form parameters, a body, an expression and a required scenario state each count one.
fn conditions(example: &CompiledExample) -> usize {
    let literal_segments = example
        .path
        .segments
        .iter()
        .filter(|segment| matches!(segment, Segment::Literal(_)))
        .count();
    let body = match &example.body {
        BodyCheck::None => 0,
        BodyCheck::Form(params) => params.len().max(1),
        _ => 1,
    };
    usize::from(example.method.is_some())
        + literal_segments
        + example.query.len()
        + example.headers.len()
        + example.cookies.len()
        + body
        + usize::from(example.expression.is_some())
        + usize::from(tally::requires_scenario(example))
}

/// The name of a level, for [`crate::DecidedBy::Level`].
pub(crate) fn level_name(level: u8, form: bool) -> &'static str {
    let names: &[&'static str] = if form { &FORM_LEVELS } else { &LEVELS };
    names
        .get(usize::from(level).saturating_sub(1))
        .copied()
        .unwrap_or("unknown level")
}

/// Selects in rules mode: the fitting candidate with the lowest level, then the tie-breaks.
pub(crate) fn select(
    mock: &CompiledMock,
    index: &PathIndex,
    request: &Request,
    state: &State,
) -> Selection {
    let incoming = Incoming::new(request, state);
    let mut candidates = Vec::new();
    index.candidates(&request.method, &incoming.segments, &mut candidates);
    let mut best: Option<(usize, Fit)> = None;
    let mut tied = 0usize;
    for position in candidates {
        let position = position as usize;
        let example = &mock.examples[position];
        let Some(fit) = evaluate(example, &incoming, &mut Tally::fast()) else {
            continue;
        };
        match best {
            Some((_, current)) if fit.level > current.level => {}
            Some((current_position, current)) if fit.level == current.level => {
                tied += 1;
                if outranks(example, fit, &mock.examples[current_position], current) {
                    best = Some((position, fit));
                }
            }
            _ => {
                best = Some((position, fit));
                tied = 1;
            }
        }
    }
    let Some((position, fit)) = best else {
        let sought = Sought {
            method: &request.method,
            segments: &incoming.segments,
            path_fits: &[],
            added_weight: 0.0,
        };
        return Selection::NoMatch(mock.explain(request, &sought, |_, example, tally| {
            evaluate(example, &incoming, tally);
        }));
    };
    let example = &mock.examples[position];
    let form_body = incoming.form.is_some();
    mock.matched(
        position,
        example.path.captures(&incoming.segments),
        DecidedBy::Level {
            level: fit.level,
            name: level_name(fit.level, form_body).to_owned(),
            form_body,
            priority: example.priority,
            conditions: fit.conditions,
            candidates: tied,
            body: example.body.kind().map(str::to_owned),
        },
    )
}

/// The tie-break inside a level: higher priority, then more conditions, then the lower id.
fn outranks(a: &CompiledExample, a_fit: Fit, b: &CompiledExample, b_fit: Fit) -> bool {
    a.priority
        .cmp(&b.priority)
        .then(a_fit.conditions.cmp(&b_fit.conditions))
        .then(b.id.cmp(&a.id))
        .is_gt()
}
