//! Hints from other nodes: one connection LISTENs on the `wasmstep` channel (executions handed
//! over, state machines changed) and wakes the daemon's lease loop. Only a hint: a missed
//! notification delays work by one polling interval at most, never loses it. Reconnects by
//! itself (tokio-postgres leaves that to its user: these few lines are ours).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::AsyncMessage;

/// The channel every node listens on and notifies.
pub(super) const CHANNEL: &str = "wasmstep";

pub(super) async fn listen(
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    hints: Arc<Notify>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                // The connection delivers notifications only while it is polled.
                let driver = tokio::spawn(async move {
                    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(AsyncMessage::Notification(_)) => {
                                if tx.send(()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!("the database's notification connection failed: {e}");
                                return;
                            }
                        }
                    }
                });
                if client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok() {
                    backoff = Duration::from_millis(500);
                    // Whatever was notified while not listening: look once.
                    hints.notify_one();
                    while rx.recv().await.is_some() {
                        hints.notify_one();
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::warn!("cannot open the database's notification connection: {e}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}
