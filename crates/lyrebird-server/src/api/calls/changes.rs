//! Why a call was answered otherwise than the last call of the same request: the call's detail
//! finds the newest earlier call with the same method, path, query and body, and when another
//! example or status answered it, says which versions answered each and what changed between
//! them ("answered by "user" at v12, by "user by id" at v13: "user"'s request.path changed").

use lyrebird_store::calls::{NewCall, StoredCall};
use lyrebird_store::{ExampleId, Mock, Workspace};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::versions::MockDiff;
use crate::diff::JsonChange;
use crate::error::ApiError;

/// Earlier calls read looking for the same request.
const LOOK_BACK: usize = 2_000;
/// Fields named per example in the message.
const FIELDS_NAMED: usize = 3;

/// How the call's answer differs from the previous one to the same request, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerChange {
    pub previous: PreviousAnswer,
    /// In words, with the versions and what changed between them.
    pub message: String,
    /// What changed between the two versions, about the two examples (and the settings); absent
    /// when the versions are the same or one is no longer kept.
    pub diff: Option<MockDiff>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviousAnswer {
    #[schema(value_type = String, format = Uuid)]
    pub call_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub example_id: Option<Uuid>,
    pub example_name: Option<String>,
    pub version: Option<u32>,
    pub status: u16,
}

fn same_request(call: &StoredCall, other: &NewCall) -> bool {
    let summary = &call.summary;
    summary.method == other.method
        && summary.path == other.path
        && summary.query == other.query
        && call.request_body == other.request_body.text
}

/// The change from the newest earlier call of the same request, if it was answered otherwise.
pub async fn answer_change(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    call: &StoredCall,
) -> Result<Option<AnswerChange>, ApiError> {
    let summary = &call.summary;
    let mut earlier = state
        .store
        .read_calls(workspace, mock.id, None, Some(summary.at));
    let mut previous = None;
    for _ in 0..LOOK_BACK {
        match earlier.next().await? {
            Some(other) if other.id != summary.id && same_request(call, &other) => {
                previous = Some(other);
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    let Some(previous) = previous else {
        return Ok(None);
    };
    let before = previous.example_id.map(|id| id.as_uuid());
    let status = u16::try_from(summary.status).unwrap_or_default();
    if before == summary.example_id && previous.status == status {
        return Ok(None);
    }
    let previous = PreviousAnswer {
        call_id: previous.id,
        at: previous.at,
        example_id: before,
        example_name: previous.example_name,
        version: (previous.version > 0).then_some(previous.version),
        status: previous.status,
    };
    let answered = |name: &Option<String>, version: Option<u32>, status: u16| {
        let by = name.as_ref().map_or_else(
            || format!("no example ({status})"),
            |name| format!("{name:?}"),
        );
        match version {
            Some(version) => format!("{by} at v{version}"),
            None => by,
        }
    };
    let head = format!(
        "answered by {}, by {}",
        answered(&previous.example_name, previous.version, previous.status),
        answered(&summary.example_name, summary.version, status),
    );
    let (reason, diff) = match (previous.version, summary.version) {
        (Some(old), Some(new)) if old != new => {
            // The two versions with only the two examples: a comparison of two examples
            // reads their texts, not every example of the mock.
            let examples: Vec<ExampleId> = [before, summary.example_id]
                .into_iter()
                .flatten()
                .map(ExampleId::from)
                .collect();
            let store = &state.store;
            let versions = (
                store
                    .version_of_examples(workspace, mock.id, old as i32, &examples)
                    .await,
                store
                    .version_of_examples(workspace, mock.id, new as i32, &examples)
                    .await,
            );
            match versions {
                (Ok(old), Ok(new)) => {
                    let diff = MockDiff::between((&old).into(), (&new).into()).about();
                    (diff.describe(), Some(diff))
                }
                _ => ("one of the two versions is no longer kept".to_owned(), None),
            }
        }
        (Some(_), Some(_)) => (
            "the mock did not change between them: its state, a sequence or a template decided"
                .to_owned(),
            None,
        ),
        _ => (
            "the earlier call was logged before mocks had versions".to_owned(),
            None,
        ),
    };
    Ok(Some(AnswerChange {
        previous,
        message: format!("{head}: {reason}"),
        diff,
    }))
}

impl MockDiff {
    /// A diff of two versions read with only some of their examples: places among those few
    /// say nothing of the examples' places in the mock, so moves are left out.
    fn about(mut self) -> Self {
        self.moved.clear();
        self
    }

    /// The diff in a sentence: what was added, removed, changed (which fields) and moved.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for example in &self.removed {
            parts.push(format!("{:?} was removed", example.name));
        }
        for example in &self.added {
            parts.push(format!("{:?} was added", example.name));
        }
        for example in &self.changed {
            let fields = fields(&example.changes);
            parts.push(format!("{:?}'s {fields} changed", example.name));
        }
        for example in &self.moved {
            parts.push(format!(
                "{:?} moved to place {}",
                example.name,
                example.position + 1
            ));
        }
        if !self.settings.is_empty() {
            parts.push(format!("the mock's {} changed", fields(&self.settings)));
        }
        match parts.is_empty() {
            true => "neither example changed between the two versions".to_owned(),
            false => parts.join("; "),
        }
    }
}

/// The first changed fields, as dotted names (`request.path`).
fn fields(changes: &[JsonChange]) -> String {
    let mut fields: Vec<String> = changes
        .iter()
        .take(FIELDS_NAMED)
        .map(|change| change.path.trim_start_matches('/').replace('/', "."))
        .collect();
    if changes.len() > FIELDS_NAMED {
        fields.push("more".to_owned());
    }
    fields.join(", ")
}
