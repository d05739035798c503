//! Shared bookkeeping of one example's conditions against one request.
//!
//! Matching and explaining walk the same conditions in the same order. In the fast mode used to
//! select, a [`Tally`] stops at the first failure and never builds a [`Failure`]. After nothing
//! matched, the weighing mode goes on to weigh every condition of every example, so that near
//! misses can be ranked, still without building failures; only the few closest examples are then
//! walked once more in the explaining mode, which keeps the first failure for the report.

use crate::compile::CompiledExample;
use crate::explain::Failure;
use crate::request::Request;
use crate::state::State;
use crate::value::{ValueCheck, first_value, values_of};

/// How much each kind of condition counts towards a near miss's distance; the path dominates
/// because a request aimed at another resource is rarely the one a reader is looking for.
pub(crate) mod weight {
    pub(crate) const METHOD: f64 = 3.0;
    pub(crate) const PATH: f64 = 10.0;
    pub(crate) const QUERY: f64 = 3.0;
    pub(crate) const HEADERS: f64 = 2.0;
    pub(crate) const COOKIES: f64 = 1.0;
    pub(crate) const BODY: f64 = 4.0;
    pub(crate) const EXPRESSION: f64 = 2.0;
    pub(crate) const SCENARIO: f64 = 2.0;

    /// `weight` for a condition that is stated, else nothing.
    pub(crate) fn when(stated: bool, weight: f64) -> f64 {
        if stated { weight } else { 0.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fast,
    Weighing,
    Explaining,
}

pub(crate) struct Tally {
    mode: Mode,
    first: Option<Failure>,
    failed: bool,
    weighted: f64,
    weights: f64,
}

impl Tally {
    pub(crate) fn fast() -> Self {
        Self::new(Mode::Fast)
    }

    pub(crate) fn weighing() -> Self {
        Self::new(Mode::Weighing)
    }

    pub(crate) fn explaining() -> Self {
        Self::new(Mode::Explaining)
    }

    fn new(mode: Mode) -> Self {
        Self {
            mode,
            first: None,
            failed: false,
            weighted: 0.0,
            weights: 0.0,
        }
    }

    /// Records one condition with its distance (0 fits, up to 1); returns whether to go on
    /// checking, which in the fast mode means "no failure yet".
    pub(crate) fn add(
        &mut self,
        weight: f64,
        distance: f64,
        failure: impl FnOnce() -> Failure,
    ) -> bool {
        self.weights += weight;
        if distance > 0.0 {
            self.weighted += weight * distance.min(1.0);
            if !self.failed {
                self.failed = true;
                if self.mode == Mode::Explaining {
                    self.first = Some(failure());
                }
            }
        }
        self.is_weighing() || !self.failed
    }

    /// Records a condition that fits.
    pub(crate) fn pass(&mut self, weight: f64) {
        self.weights += weight;
    }

    /// Records a condition that fits or not.
    pub(crate) fn check(
        &mut self,
        weight: f64,
        fits: bool,
        failure: impl FnOnce() -> Failure,
    ) -> bool {
        self.add(weight, if fits { 0.0 } else { 1.0 }, failure)
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// True when every condition is weighed, not only up to the first failure.
    pub(crate) fn is_weighing(&self) -> bool {
        self.mode != Mode::Fast
    }

    /// The weighted distance, 0 to 1; `None` if every condition fitted.
    pub(crate) fn distance(&self) -> Option<f64> {
        self.failed.then(|| {
            if self.weights > 0.0 {
                self.weighted / self.weights
            } else {
                1.0
            }
        })
    }

    /// The first failure, in the explaining mode; `None` if every condition fitted.
    pub(crate) fn into_failure(self) -> Option<Failure> {
        self.first
    }

    /// Checks name/value conditions (query, headers, cookies, form) against the request's pairs;
    /// the distance is the share of conditions that fail.
    pub(crate) fn values(
        &mut self,
        weight: f64,
        conditions: &[(String, ValueCheck)],
        actual: &[(String, String)],
        kind: fn(String, String, Option<String>) -> Failure,
    ) -> bool {
        if conditions.is_empty() {
            return true;
        }
        let mut failing = 0usize;
        let mut first = None;
        for (position, (name, check)) in conditions.iter().enumerate() {
            if !check.accepts(values_of(actual, name)) {
                failing += 1;
                first.get_or_insert(position);
                if !self.is_weighing() {
                    break;
                }
            }
        }
        let distance = failing as f64 / conditions.len() as f64;
        self.add(weight, distance, || {
            let (name, check) = &conditions[first.unwrap_or_default()];
            kind(
                name.clone(),
                check.describe(),
                first_value(actual, name).map(str::to_owned),
            )
        })
    }
}

/// Constructors of the [`Failure`] for one kind of name/value condition.
pub(crate) fn query_failure(name: String, expected: String, actual: Option<String>) -> Failure {
    Failure::Query {
        name,
        expected,
        actual,
    }
}

pub(crate) fn header_failure(name: String, expected: String, actual: Option<String>) -> Failure {
    Failure::Header {
        name,
        expected,
        actual,
    }
}

pub(crate) fn cookie_failure(name: String, expected: String, actual: Option<String>) -> Failure {
    Failure::Cookie {
        name,
        expected,
        actual,
    }
}

pub(crate) fn form_failure(name: String, expected: String, actual: Option<String>) -> Failure {
    Failure::FormParameter {
        name,
        expected,
        actual,
    }
}

/// Evaluates an expression condition, recording a false result or a failure with its reason.
pub(crate) fn expression(
    tally: &mut Tally,
    expression: &crate::expr::Expression,
    request: &Request,
) -> bool {
    let result = expression.eval(request);
    let fits = matches!(result, Ok(true));
    tally.check(weight::EXPRESSION, fits, || Failure::Expression {
        reason: match result {
            Ok(_) => "evaluated to false".to_owned(),
            Err(reason) => reason,
        },
    })
}

/// Whether the example requires a state of a scenario.
pub(crate) fn requires_scenario(example: &CompiledExample) -> bool {
    example
        .scenario
        .as_ref()
        .is_some_and(|step| step.requires.is_some())
}

/// Checks the scenario state an example requires; returns whether to go on.
pub(crate) fn scenario(tally: &mut Tally, example: &CompiledExample, state: &State) -> bool {
    let Some(step) = &example.scenario else {
        return true;
    };
    let Some(required) = &step.requires else {
        return true;
    };
    let current = state.scenario(&step.name);
    tally.check(weight::SCENARIO, current == required, || {
        Failure::Scenario {
            name: step.name.clone(),
            current: current.to_owned(),
            required: required.clone(),
        }
    })
}
