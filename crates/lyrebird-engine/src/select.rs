//! The compiled mock and the selection of an example for a request.
//!
//! [`CompiledMock::compile`] builds everything once; [`CompiledMock::select`] then picks an
//! example in the mock's mode ([`crate::rules`] or [`crate::postman`]) using only the examples its
//! index offers, and [`CompiledMock::respond`] renders the chosen one. A mock is immutable and
//! `Send + Sync`: the server shares one per mock version across all its workers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::compile::CompiledExample;
use crate::error::ValidationError;
use crate::explain::{DecidedBy, Explanation, NEAR_MISSES, NearMiss};
use crate::index::{PathIndex, PostmanIndex};
use crate::model::{Example, MatchSettings, SelectionMode};
use crate::render::{RenderContext, Rendered};
use crate::request::Request;
use crate::shortlist::{SHORTLIST, Shapes, Sought};
use crate::tally::Tally;
use crate::{postman, rules};

/// A mock's examples, compiled and indexed.
#[derive(Debug)]
pub struct CompiledMock {
    pub(crate) examples: Vec<CompiledExample>,
    pub(crate) settings: MatchSettings,
    /// `settings.match_headers` in lower case.
    pub(crate) match_headers: Vec<String>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) index: Index,
    /// What explaining a request that matched nothing reads first.
    shapes: Shapes,
}

#[derive(Debug)]
pub(crate) enum Index {
    Rules(PathIndex),
    Postman(Box<PostmanIndex>),
}

/// The example chosen for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matched {
    /// Position in the list the mock was compiled from.
    pub index: usize,
    pub id: Uuid,
    pub name: String,
    /// Path segments captured by `:name`, `{name}`, `{{name}}` and `*`, decoded.
    pub captures: Vec<(String, String)>,
    pub decided_by: DecidedBy,
}

/// What selection found for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Selection {
    Matched(Matched),
    NoMatch(Explanation),
    /// Postman mode: `x-mock-response-id` named no example (of the request's method).
    UnknownResponseId {
        id: String,
    },
    /// Postman mode: `x-mock-response-name` named no example (of the request's method).
    UnknownResponseName {
        name: String,
    },
}

/// A selection and, when an example was chosen, its rendered response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub selection: Selection,
    pub rendered: Option<Rendered>,
}

impl Selection {
    pub fn matched(&self) -> Option<&Matched> {
        match self {
            Self::Matched(matched) => Some(matched),
            _ => None,
        }
    }
}

impl CompiledMock {
    /// Compiles every example; on failure, every problem with the position of its example.
    /// Ids are UUIDv7, so their order is creation order, which breaks the last ties.
    pub fn compile(
        examples: Vec<(Uuid, Example)>,
        settings: MatchSettings,
        env: BTreeMap<String, String>,
    ) -> Result<Self, Vec<(usize, ValidationError)>> {
        let mut compiled = Vec::with_capacity(examples.len());
        let mut errors = Vec::new();
        for (position, (id, example)) in examples.iter().enumerate() {
            match CompiledExample::compile(*id, example, &env) {
                Ok(example) => compiled.push(example),
                Err(found) => errors.extend(found.into_iter().map(|error| (position, error))),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let index = match settings.selection {
            SelectionMode::Rules => Index::Rules(PathIndex::build(&compiled, |_| true)),
            SelectionMode::Postman => Index::Postman(Box::new(PostmanIndex::build(&compiled))),
        };
        Ok(Self {
            shapes: Shapes::build(&compiled, settings.selection),
            examples: compiled,
            match_headers: settings
                .match_headers
                .iter()
                .map(|name| name.trim().to_ascii_lowercase())
                .collect(),
            settings,
            env,
            index,
        })
    }

    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    pub fn settings(&self) -> &MatchSettings {
        &self.settings
    }

    /// Picks the example that answers `request`, or explains why none does.
    pub fn select(&self, request: &Request) -> Selection {
        let _budget = crate::expr::RequestBudget::start();
        match &self.index {
            Index::Rules(index) => rules::select(self, index, request),
            Index::Postman(index) => postman::select(self, index, request),
        }
    }

    /// Selects and renders: what the server sends, with the reasons for the call log. `now` is
    /// the time templates see.
    pub fn respond(&self, request: &Request, now: time::OffsetDateTime) -> Outcome {
        let selection = self.select(request);
        let rendered = selection.matched().map(|matched| {
            self.examples[matched.index]
                .response
                .render(&RenderContext {
                    request,
                    captures: &matched.captures,
                    env: &self.env,
                    now,
                })
        });
        Outcome {
            selection,
            rendered,
        }
    }

    pub(crate) fn matched(
        &self,
        position: usize,
        captures: Vec<(String, String)>,
        decided_by: DecidedBy,
    ) -> Selection {
        let example = &self.examples[position];
        Selection::Matched(Matched {
            index: position,
            id: example.id,
            name: example.name.clone(),
            captures,
            decided_by,
        })
    }

    /// The closest examples and the first condition each failed. The shortlist hands out
    /// examples lowest bound first (their method and path part of the distance over the most
    /// their conditions weigh); their conditions are walked until no bound left can beat the
    /// third closest, or [`SHORTLIST`] examples have been walked.
    pub(crate) fn explain(
        &self,
        request: &Request,
        sought: &Sought<'_>,
        mut evaluate: impl FnMut(usize, &CompiledExample, &mut Tally),
    ) -> Explanation {
        let closest = |a: &(f64, Uuid, usize), b: &(f64, Uuid, usize)| {
            a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
        };
        let mut ranked: Vec<(f64, Uuid, usize)> = Vec::with_capacity(NEAR_MISSES + 1);
        let mut search = self.shapes.search(sought);
        for _ in 0..SHORTLIST {
            let ceiling = match ranked.get(NEAR_MISSES - 1) {
                Some(&(third, ..)) => third,
                None => f64::INFINITY,
            };
            let Some(candidate) = search.next_within(ceiling) else {
                break;
            };
            let mut tally = Tally::weighing();
            evaluate(
                candidate.position,
                &self.examples[candidate.position],
                &mut tally,
            );
            let Some(distance) = tally.distance() else {
                continue;
            };
            let entry = (distance, candidate.id, candidate.position);
            let at = ranked.partition_point(|other| closest(other, &entry).is_lt());
            ranked.insert(at, entry);
            ranked.truncate(NEAR_MISSES);
        }
        let near_misses = ranked
            .into_iter()
            .filter_map(|(distance, id, index)| {
                let example = &self.examples[index];
                let mut tally = Tally::explaining();
                evaluate(index, example, &mut tally);
                let failed = tally.into_failure()?;
                Some(NearMiss {
                    index,
                    id,
                    name: example.name.clone(),
                    distance: (distance * 1000.0).round() / 1000.0,
                    message: failed.describe(),
                    failed,
                })
            })
            .collect();
        Explanation {
            mode: self.settings.selection,
            method: request.method.clone(),
            url: request.url(),
            near_misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compiled_mock_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledMock>();
    }
}
