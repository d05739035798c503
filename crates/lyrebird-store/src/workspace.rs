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
    member: AccountId,
    role: Role,
}

impl Workspace {
    pub(crate) fn granted(id: WorkspaceId, by: Actor, member: AccountId, role: Role) -> Self {
        Self {
            id,
            by,
            member,
            role,
        }
    }

    pub fn id(&self) -> WorkspaceId {
        self.id
    }

    pub fn actor(&self) -> Actor {
        self.by
    }

    /// The member acting: the signed-in person, or the one whose key it is.
    pub fn member(&self) -> AccountId {
        self.member
    }

    /// What the caller may do here: the member's role, under the key's ceiling for a key.
    pub fn role(&self) -> Role {
        self.role
    }
}

/// A member's role in a workspace, weakest first: each may do everything the one before may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads mocks and the call log, and tries requests; changes nothing.
    Viewer,
    /// Also changes mocks, examples, state and imports, and clears call logs.
    Editor,
    /// Also manages members (but not owners), invitations and every member's keys.
    Admin,
    /// Everything, owners and the workspace itself included.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Editor, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| UnknownRole(value.to_owned()))
    }
}

impl TryFrom<String> for Role {
    type Error = UnknownRole;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl sqlx::Type<sqlx::Postgres> for Role {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl sqlx::Decode<'_, sqlx::Postgres> for Role {
    fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(<&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?.parse()?)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Role {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
    }
}

/// A role name that this version does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: one of owner, admin, editor or viewer")]
pub struct UnknownRole(String);

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
