//! Room for the expensive admin operations (imports, "try a request"), by workspace: a tenant
//! may run only so many of one kind at once, and the server only so many in all, so a tenant
//! that sends them in a loop holds its own share (`429 busy` past it), not every core.
//!
//! The counts are this process's: each replica gives the same room, which is what protects its
//! cores.

use std::sync::Mutex;

use lyrebird_store::WorkspaceId;

use crate::error::ApiError;

/// One kind of operation's room.
pub(crate) struct Gate {
    /// Most of them one workspace may run at once.
    per_workspace: usize,
    /// Most of them in all, per core of the machine.
    per_core: usize,
    /// The answers when a workspace's share, or the whole room, is taken.
    workspace_full: &'static str,
    server_full: &'static str,
    /// The workspace of each one under way.
    running: Mutex<Vec<WorkspaceId>>,
}

/// A place taken in a [`Gate`], given back when dropped.
pub(crate) struct Pass {
    gate: &'static Gate,
    workspace: WorkspaceId,
}

impl Gate {
    pub(crate) const fn new(
        per_workspace: usize,
        per_core: usize,
        workspace_full: &'static str,
        server_full: &'static str,
    ) -> Self {
        Self {
            per_workspace,
            per_core,
            workspace_full,
            server_full,
            running: Mutex::new(Vec::new()),
        }
    }

    /// A place for one more operation of `workspace`, or `429 busy` saying whose room is full.
    pub(crate) fn enter(&'static self, workspace: WorkspaceId) -> Result<Pass, ApiError> {
        let mut running = self.running.lock().expect("a gate is never poisoned");
        let own = running.iter().filter(|w| **w == workspace).count();
        if own >= self.per_workspace {
            return Err(ApiError::Busy(self.workspace_full));
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if running.len() >= cores * self.per_core {
            return Err(ApiError::Busy(self.server_full));
        }
        running.push(workspace);
        Ok(Pass {
            gate: self,
            workspace,
        })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut running = self.gate.running.lock().expect("a gate is never poisoned");
        if let Some(at) = running.iter().position(|w| *w == self.workspace) {
            running.swap_remove(at);
        }
    }
}
