//! Why an example was chosen, and why none was: the serializable reasons that go into the 404
//! body and the call log.
//!
//! A request that matches nothing gets an [`Explanation`] naming the closest examples. Closeness
//! follows WireMock's near-miss idea: each condition of an example contributes a weighted distance
//! between 0 (fits) and 1 (entirely different), the path weighing most, and the examples with the
//! smallest total are the near misses. Each near miss carries the *first* condition that failed,
//! in the order a reader checks them: method, path, query, headers, cookies, body, expression.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::SelectionMode;

/// How many near misses an explanation lists.
pub const NEAR_MISSES: usize = 3;

/// One condition of an example that a request did not meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum Failure {
    Method {
        expected: String,
        actual: String,
    },
    /// `segment` is 1-based; `actual` is absent when the request path ends earlier.
    Path {
        segment: usize,
        expected: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actual: Option<String>,
    },
    Query {
        name: String,
        expected: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actual: Option<String>,
    },
    Header {
        name: String,
        expected: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actual: Option<String>,
    },
    Cookie {
        name: String,
        expected: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actual: Option<String>,
    },
    /// A form parameter, looked up in the request's query and form body pooled (docs/matching.md,
    /// "Levels with a form body").
    FormParameter {
        name: String,
        expected: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actual: Option<String>,
    },
    /// The body: `location` is a JSON pointer (`/items/0/id`), an XPath-like location
    /// (`/foo/bar[1]/@attr`) or absent when the body as a whole differs.
    Body {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        message: String,
    },
    /// The expression was false, or failed (its reason).
    Expression {
        reason: String,
    },
    /// The example requires another state of a scenario than the one it is in.
    Scenario {
        name: String,
        current: String,
        required: String,
    },
}

impl Failure {
    /// The failure in one sentence, for people reading a 404 body or the call log.
    pub fn describe(&self) -> String {
        fn found(actual: Option<&String>) -> String {
            actual.map_or_else(|| "it is missing".to_owned(), |a| format!("got {a:?}"))
        }
        match self {
            Self::Method { expected, actual } => {
                format!("method is {actual}, the example expects {expected}")
            }
            Self::Path {
                segment,
                expected,
                actual,
            } => format!(
                "path segment {segment} should be {expected:?}, {}",
                found(actual.as_ref())
            ),
            Self::Query {
                name,
                expected,
                actual,
            } => format!(
                "query parameter {name:?} should be {expected:?}, {}",
                found(actual.as_ref())
            ),
            Self::Header {
                name,
                expected,
                actual,
            } => format!(
                "header {name:?} should be {expected:?}, {}",
                found(actual.as_ref())
            ),
            Self::Cookie {
                name,
                expected,
                actual,
            } => format!(
                "cookie {name:?} should be {expected:?}, {}",
                found(actual.as_ref())
            ),
            Self::FormParameter {
                name,
                expected,
                actual,
            } => format!(
                "form parameter {name:?} should be {expected:?}, {}",
                found(actual.as_ref())
            ),
            Self::Body {
                location: Some(location),
                message,
            } => format!("body at {location}: {message}"),
            Self::Body {
                location: None,
                message,
            } => format!("body: {message}"),
            Self::Expression { reason } => format!("expression: {reason}"),
            Self::Scenario {
                name,
                current,
                required,
            } => format!("scenario {name} is in `{current}`, the example needs `{required}`"),
        }
    }
}

/// An example that came close to matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearMiss {
    /// Position of the example in the list the mock was compiled from.
    pub index: usize,
    pub id: Uuid,
    pub name: String,
    /// 0 would be a match, 1 shares nothing with the request; rounded to three decimals.
    pub distance: f64,
    pub failed: Failure,
    /// [`Failure::describe`], so that readers of the JSON need no code.
    pub message: String,
}

/// Why no example answers a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub mode: SelectionMode,
    pub method: String,
    /// The request path and query as received.
    pub url: String,
    /// Closest first, at most [`NEAR_MISSES`].
    pub near_misses: Vec<NearMiss>,
}

/// Which rule decided for the chosen example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum DecidedBy {
    /// Rules mode: the priority level (1-based, in the table for requests without or with a form
    /// body: docs/matching.md, "Levels without a form body" and "Levels with a form body"), then,
    /// among examples of that level, priority, then conditions matched, then id ("Ties").
    Level {
        level: u8,
        name: String,
        form_body: bool,
        priority: i32,
        conditions: usize,
        /// How many examples fitted at this level; more than one means the tie-break decided.
        candidates: usize,
        /// The example's body condition: `text`, `json`, `xml`, `form` or `any`; absent for none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Postman mode: the score (100 plus the parts below) and the path step that fitted.
    Score {
        score: f64,
        path_step: PathStep,
        path_score: i32,
        query_score: f64,
        body_bonus: i32,
        candidates: usize,
    },
    /// Postman mode: the `x-mock-response-id` header named the example.
    ResponseId { id: Uuid },
    /// Postman mode: the `x-mock-response-name` header named the example. Among `candidates`
    /// examples of that name (of the request's method, and status when `x-mock-response-code`
    /// is sent), the one the path and query scored best; `path_step` is absent when none fitted
    /// the path, and Postman's rule for duplicates chose (the first with status 200 by id, else
    /// the first).
    ResponseName {
        name: String,
        #[serde(default)]
        candidates: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path_step: Option<PathStep>,
    },
}

impl DecidedBy {
    /// Why the example answered, in a user's words rather than the matching order's: what of the
    /// request it matched, and what broke a tie.
    pub fn describe(&self) -> String {
        match self {
            Self::Level {
                level,
                form_body,
                priority,
                conditions,
                candidates,
                body,
                ..
            } => {
                let matched = match (*form_body, *level) {
                    (false, 11) | (true, 4) => {
                        "the start of its path and an expression reading the URL".to_owned()
                    }
                    (true, 1) => "its path and query, with no form parameters".to_owned(),
                    (true, 2) => "its path and form parameters".to_owned(),
                    (true, _) => "its path and its expression".to_owned(),
                    (false, level) => {
                        let url = if level <= 5 {
                            "its path and every query parameter"
                        } else {
                            "its path and its query conditions (the request has more parameters)"
                        };
                        let body = match body.as_deref() {
                            Some("text") => "the body as text",
                            Some("json") => "the body as JSON",
                            Some("xml") => "the body as XML",
                            Some("form") => "form parameters",
                            Some(_) => "any body",
                            None => "no body condition",
                        };
                        let expression = if matches!(level, 4 | 9) {
                            ", and its expression"
                        } else {
                            ""
                        };
                        format!("{url}; {body}{expression}")
                    }
                };
                let tie = if *candidates > 1 {
                    format!(
                        " {candidates} examples matched equally well; this one won on priority ({priority}), then on its {conditions} conditions."
                    )
                } else {
                    String::new()
                };
                format!("Matched by {matched}.{tie}")
            }
            Self::Score {
                score,
                path_step,
                candidates,
                ..
            } => {
                let step = serde_json::to_value(path_step)
                    .ok()
                    .and_then(|step| step.as_str().map(|step| step.replace('_', " ")))
                    .unwrap_or_default();
                format!(
                    "Postman's matching: the best score, {score}, among {candidates} examples of this method; the path matched at the “{step}” step."
                )
            }
            Self::ResponseId { .. } => {
                "The x-mock-response-id header named this example.".to_owned()
            }
            Self::ResponseName {
                name, candidates, ..
            } => format!(
                "The x-mock-response-name header named {name:?} ({candidates} examples have that name)."
            ),
        }
    }
}

/// The steps of Postman's path comparison, each with its score (docs/matching.md, "Postman
/// mode", step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathStep {
    Exact,
    TrailingSlash,
    CaseInsensitive,
    CaseAndTrailingSlash,
    Wildcards,
    IdsRemoved,
    IdsAndTrailingSlashRemoved,
    EditDistance,
}

impl PathStep {
    /// Cheapest first; the first one that fits gives the score.
    pub const ALL: [Self; 8] = [
        Self::Exact,
        Self::TrailingSlash,
        Self::CaseInsensitive,
        Self::CaseAndTrailingSlash,
        Self::Wildcards,
        Self::IdsRemoved,
        Self::IdsAndTrailingSlashRemoved,
        Self::EditDistance,
    ];

    pub fn score(self) -> i32 {
        match self {
            Self::Exact => 0,
            Self::TrailingSlash => -5,
            Self::CaseInsensitive => -10,
            Self::CaseAndTrailingSlash => -15,
            Self::Wildcards => -20,
            Self::IdsRemoved => -21,
            Self::IdsAndTrailingSlashRemoved => -25,
            Self::EditDistance => -30,
        }
    }

    /// The steps users complain about, which `fuzzy_paths: false` turns off.
    pub fn is_fuzzy(self) -> bool {
        matches!(
            self,
            Self::CaseInsensitive
                | Self::CaseAndTrailingSlash
                | Self::IdsRemoved
                | Self::IdsAndTrailingSlashRemoved
                | Self::EditDistance
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(level: u8, body: Option<&str>, candidates: usize) -> DecidedBy {
        DecidedBy::Level {
            level,
            name: String::new(),
            form_body: false,
            priority: 2,
            conditions: 4,
            candidates,
            body: body.map(str::to_owned),
        }
    }

    #[test]
    fn a_rules_decision_is_told_in_words_not_levels() {
        assert_eq!(
            level(1, None, 1).describe(),
            "Matched by its path and every query parameter; no body condition."
        );
        assert_eq!(
            level(9, Some("json"), 3).describe(),
            "Matched by its path and its query conditions (the request has more parameters); \
             the body as JSON, and its expression. 3 examples matched equally well; this one won on \
             priority (2), then on its 4 conditions."
        );
        assert_eq!(
            level(11, None, 1).describe(),
            "Matched by the start of its path and an expression reading the URL."
        );
    }
}
