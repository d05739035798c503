//! The compiled mock and the selection of an example for a request.
//!
//! [`CompiledMock::compile`] builds everything once; [`CompiledMock::select`] then picks an
//! example in the mock's mode ([`crate::rules`] or [`crate::postman`]) using only the examples its
//! index offers, and [`CompiledMock::respond`] renders the chosen one. A mock is immutable and
//! `Send + Sync`: the server shares one per mock version across all its workers.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::compile::{Answer, CompiledExample};
use crate::error::ValidationError;
use crate::explain::{DecidedBy, Explanation, NEAR_MISSES, NearMiss};
use crate::index::{PathIndex, PostmanIndex};
use crate::model::{Example, MatchSettings, SelectionMode, SequencePolicy};
use crate::render::{CompiledResponse, RenderContext, Rendered};
use crate::request::Request;
use crate::shortlist::{SHORTLIST, Shapes, Sought};
use crate::state::{Seeds, State, StateWrite};
use crate::tally::Tally;
use crate::{postman, resource, rules, state};

/// The state of a mock nothing has written, for answering without one.
static NO_STATE: LazyLock<Arc<State>> = LazyLock::new(Arc::default);

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
    pub(crate) seeds: Arc<Seeds>,
    /// Some answer reads or changes the mock's state.
    stateful: bool,
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
    /// Position among the compiled examples (a resource example compiles to two).
    #[serde(skip)]
    pub(crate) compiled: usize,
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

/// A selection and, when an example was chosen, its rendered response and the changes it
/// makes to the mock's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub selection: Selection,
    pub rendered: Option<Rendered>,
    pub writes: Vec<StateWrite>,
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
            match CompiledExample::compile_all(*id, position, example, &env) {
                Ok(mut examples) => compiled.append(&mut examples),
                Err(found) => errors.extend(found.into_iter().map(|error| (position, error))),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let index = match settings.selection {
            SelectionMode::Rules => Index::Rules(PathIndex::build((0u32..).zip(&compiled))),
            SelectionMode::Postman => {
                Index::Postman(Box::new(PostmanIndex::build(&compiled, &examples)))
            }
        };
        // Seeds that do not check are refused when the mock is saved; here, the records at
        // fault are left out rather than the mock made unservable.
        let (seeds, _) = state::seeds(&settings.collections);
        Ok(Self {
            shapes: Shapes::build(&compiled, settings.selection),
            stateful: compiled
                .iter()
                .any(|example| example.scenario.is_some() || example.answer.is_stateful()),
            seeds: Arc::new(seeds),
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

    /// Whether some example reads or changes the mock's state: only then does answering need
    /// one ([`CompiledMock::respond_in`]).
    pub fn is_stateful(&self) -> bool {
        self.stateful
    }

    /// The bytes `state` holds, this mock's seeded collections that it has not written
    /// included: what a state's size limit is measured against.
    pub fn state_bytes(&self, state: &State) -> usize {
        state.bytes_with(&self.seeds)
    }

    /// Picks the example that answers `request` in a state nothing has written, or explains
    /// why none does.
    pub fn select(&self, request: &Request) -> Selection {
        self.select_in(request, &State::EMPTY)
    }

    /// Picks the example that answers `request` in `state`, or explains why none does.
    pub fn select_in(&self, request: &Request, state: &State) -> Selection {
        let _budget = crate::expr::RequestBudget::start();
        match &self.index {
            Index::Rules(index) => rules::select(self, index, request, state),
            Index::Postman(index) => postman::select(self, index, request, state),
        }
    }

    /// [`CompiledMock::respond_in`] a state nothing has written.
    pub fn respond(&self, request: &Request, now: time::OffsetDateTime) -> Outcome {
        self.respond_in(request, now, &NO_STATE)
    }

    /// Selects and renders in `state`: what the server sends, with the reasons for the call log
    /// and the changes the answer makes to the state. `now` is the time templates see.
    pub fn respond_in(
        &self,
        request: &Request,
        now: time::OffsetDateTime,
        state: &Arc<State>,
    ) -> Outcome {
        let selection = self.select_in(request, state);
        let mut writes = Vec::new();
        let rendered = selection.matched().map(|matched| {
            let example = &self.examples[matched.compiled];
            let rendered = self.answer(example, matched, request, now, state, &mut writes);
            if let Some(step) = &example.scenario
                && let Some(then) = &step.then
                && state.scenario(&step.name) != then
            {
                writes.push(StateWrite::Scenario {
                    name: step.name.clone(),
                    state: then.clone(),
                });
            }
            rendered
        });
        Outcome {
            selection,
            rendered,
            writes,
        }
    }

    fn answer(
        &self,
        example: &CompiledExample,
        matched: &Matched,
        request: &Request,
        now: time::OffsetDateTime,
        state: &Arc<State>,
        writes: &mut Vec<StateWrite>,
    ) -> Rendered {
        let render = |response: &CompiledResponse, writes: &mut Vec<StateWrite>| {
            response.render(
                &RenderContext {
                    request,
                    captures: &matched.captures,
                    env: &self.env,
                    now,
                    state: Some((state, &self.seeds)),
                },
                writes,
            )
        };
        match &example.answer {
            Answer::One(response) => render(response, writes),
            Answer::Sequence {
                policy,
                seed,
                responses,
            } => {
                let at = state.sequences.get(&example.id).copied().unwrap_or(0);
                let (chosen, next) = pick(*policy, *seed, responses, at);
                if let Some(next) = next.filter(|next| *next != at) {
                    writes.push(StateWrite::Sequence {
                        example: example.id,
                        next,
                    });
                }
                render(&responses[chosen].1, writes)
            }
            Answer::Resource(target) => {
                let served =
                    resource::serve(target, &matched.captures, request, state, &self.seeds);
                writes.extend(served.writes);
                served.rendered
            }
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
            index: example.position,
            compiled: position,
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
                    index: example.position,
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

/// The response of a sequence to give at place `at`, and the place to go to next (`None`: it
/// keeps none). A seed makes the random choices a function of the place, so a run from a reset
/// state repeats them.
fn pick(
    policy: SequencePolicy,
    seed: Option<u64>,
    responses: &[(u32, CompiledResponse)],
    at: u64,
) -> (usize, Option<u64>) {
    let count = responses.len() as u64;
    match policy {
        SequencePolicy::InOrder => {
            let last = count - 1;
            (at.min(last) as usize, (at < last).then_some(at + 1))
        }
        SequencePolicy::Cycle => ((at % count) as usize, Some((at + 1) % count)),
        SequencePolicy::Random | SequencePolicy::Weighted => {
            let draw = seed.map_or_else(rand::random, |seed| mix(seed ^ mix(at)));
            let total: u64 = responses.iter().map(|(weight, _)| u64::from(*weight)).sum();
            let mut left = draw % total.max(1);
            let chosen = responses
                .iter()
                .position(|(weight, _)| {
                    let weight = u64::from(*weight);
                    let here = left < weight;
                    left = left.saturating_sub(weight);
                    here
                })
                .unwrap_or(0);
            (chosen, seed.map(|_| at + 1))
        }
    }
}

/// SplitMix64's finalizer: a well-spread number from any number.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
