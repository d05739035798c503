//! Typed identifiers. A raw UUID becomes a `MockId` or `WorkspaceId` once, at the edge, so a
//! function that wants a mock cannot be handed a workspace by mistake.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id, so rows created together sit together in indexes.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user who signs in with email and password.
    AccountId
);
id_type!(
    /// An invitation to join a workspace.
    InvitationId
);
id_type!(
    /// A workspace: the tenant that owns mocks, keys, usage and call logs.
    WorkspaceId
);
id_type!(
    /// An API key (its id, never its secret).
    KeyId
);
id_type!(
    /// A mock server.
    MockId
);
id_type!(
    /// One example of a mock.
    ExampleId
);
id_type!(
    /// A drift report: a mock's examples checked against its upstream.
    DriftReportId
);
