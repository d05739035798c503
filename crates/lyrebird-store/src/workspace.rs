//! Who is calling, and on behalf of which workspace.
//!
//! A [`Workspace`] handle is proof that the caller may act in that workspace. Only this crate
//! creates one (by checking an API key or a session, or at sign-up), and every store function
//! of tenant data takes it: a handler cannot reach another tenant's rows by forgetting a filter.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, KeyId, WorkspaceId};

/// Access to one workspace, granted by authentication, and who was granted it: what they
/// change is recorded as theirs (a mock's versions name their authors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    id: WorkspaceId,
    by: Actor,
}

impl Workspace {
    pub(crate) fn granted(id: WorkspaceId, by: Actor) -> Self {
        Self { id, by }
    }

    pub fn id(&self) -> WorkspaceId {
        self.id
    }

    pub fn actor(&self) -> Actor {
        self.by
    }
}

/// Who acts in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Account(AccountId),
    Key(KeyId),
    /// The server itself, or its operator at the command line.
    System,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The whole admin API.
    Admin,
    /// Only calling the workspace's private mocks; safe to ship in a frontend's dev config.
    Mock,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Mock => "mock",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name in the database that this version does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown key scope {0:?}")]
pub struct UnknownScope(String);

impl TryFrom<String> for Scope {
    type Error = UnknownScope;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "admin" => Ok(Scope::Admin),
            "mock" => Ok(Scope::Mock),
            _ => Err(UnknownScope(value)),
        }
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    ApiKey {
        id: KeyId,
        scope: Scope,
    },
    /// The web app's session cookie: a signed-in person, with the whole API.
    Session {
        account: AccountId,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub workspace: Workspace,
    pub credential: Credential,
}

impl Caller {
    pub fn scope(&self) -> Scope {
        match self.credential {
            Credential::ApiKey { scope, .. } => scope,
            Credential::Session { .. } => Scope::Admin,
        }
    }
}
