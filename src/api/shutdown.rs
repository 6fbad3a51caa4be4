//! The API's shutdown signal: triggered once (SIGTERM in `wasp serve`),
//! it stops the accept loop, asks every connection to close after its
//! current response, and ends the event streams, which would otherwise
//! keep their connections open forever.
//! Must not touch: sessions (the host shuts those down itself).

use tokio::sync::watch;

/// Triggers the shutdown; cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            tx: watch::Sender::new(false),
        }
    }

    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn listener(&self) -> ShutdownListener {
        ShutdownListener {
            rx: self.tx.subscribe(),
        }
    }
}

/// Waits for the shutdown; cheap to clone.
#[derive(Clone, Debug)]
pub struct ShutdownListener {
    rx: watch::Receiver<bool>,
}

impl ShutdownListener {
    /// Resolves once the shutdown was triggered (at once if it already
    /// was). Never resolves while the [`Shutdown`] lives untriggered.
    pub async fn wait(&mut self) {
        if self.rx.wait_for(|down| *down).await.is_err() {
            // Every trigger is gone without firing: no shutdown will come.
            std::future::pending::<()>().await;
        }
    }
}
