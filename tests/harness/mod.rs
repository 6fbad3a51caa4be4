//! Shared by the end-to-end tests of our client against our simulator: a
//! simulator on loopback, a temporary data directory, and sessions whose
//! events the test reads in order.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use wasp::client::{ChannelSink, Client, ClientConfig, Event, IncomingMessage};
use wasp::sim::{self, SimConfig, SimHandle};
use wasp::store::{DataDir, FileStores};

/// A hang guard, not a timing assertion: every wait normally ends in well
/// under a second.
pub const GUARD: Duration = Duration::from_secs(60);

pub struct Harness {
    pub sim: SimHandle,
    pub data: DataDir,
    _tmp: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with_sim(SimConfig::default()).await
    }

    /// A harness whose simulator runs with `config`.
    pub async fn with_sim(config: SimConfig) -> Harness {
        let sim = sim::start(config).await.expect("simulator starts");
        let tmp = tempfile::tempdir().expect("temp dir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        Harness {
            sim,
            data,
            _tmp: tmp,
        }
    }

    /// Short timers for tests, pointed at this simulator and its root.
    pub fn config(&self) -> Arc<ClientConfig> {
        let mut config = ClientConfig::for_tests(self.sim.ws_url(), self.sim.root_public_key());
        // Long enough that a loaded CI machine uses the first code in time.
        config.qr_first_ttl = Duration::from_secs(30);
        Arc::new(config)
    }

    pub fn spawn(&self, id: &str) -> Session {
        self.spawn_with(id, self.config())
    }

    pub fn spawn_with(&self, id: &str, config: Arc<ClientConfig>) -> Session {
        let (sink, events) = ChannelSink::new();
        let stores = Arc::new(FileStores::new(self.data.clone()));
        let client = Client::spawn(id.to_string(), config, stores, Arc::new(sink));
        Session { client, events }
    }

    /// Spawns a fresh session, links it to a new phone by QR and waits
    /// until it is logged in. Returns the session, the phone and the JID.
    pub async fn linked(&self, id: &str) -> (Session, String, String) {
        self.linked_with(id, self.config()).await
    }

    /// [`Harness::linked`] with `config`.
    pub async fn linked_with(
        &self,
        id: &str,
        config: Arc<ClientConfig>,
    ) -> (Session, String, String) {
        let phone = self.sim.create_phone(None).await.expect("phone");
        let mut session = self.spawn_with(id, config);
        let qr = session
            .next_matching(|e| match e {
                Event::Qr { code, .. } => Some(code.clone()),
                _ => None,
            })
            .await;
        let device = self.sim.scan(&phone, &qr).await.expect("scan links");
        let paired = session
            .next_matching(|e| match e {
                Event::Paired { jid } => Some(jid.clone()),
                _ => None,
            })
            .await;
        assert_eq!(paired, device, "client and phone agree on the device JID");
        session.until(|e| *e == Event::Connected).await;
        (session, phone, device)
    }
}

pub struct Session {
    pub client: Client,
    pub events: UnboundedReceiver<(String, Event)>,
}

/// The text an event reports, if it is a `message` event.
pub fn message(e: &Event) -> Option<IncomingMessage> {
    match e {
        Event::Message(m) => Some((**m).clone()),
        _ => None,
    }
}

/// A phone number's user JID.
pub fn pn(phone: &str) -> String {
    format!("{phone}@s.whatsapp.net")
}

impl Session {
    /// The next text the session reports, skipping other events.
    pub async fn next_message(&mut self) -> IncomingMessage {
        self.next_matching(message).await
    }

    /// Waits for the first event `pick` accepts, skipping others.
    pub async fn next_matching<T>(&mut self, pick: impl Fn(&Event) -> Option<T>) -> T {
        let wait = async {
            loop {
                let (_, event) = self.events.recv().await.expect("session emits events");
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
        };
        tokio::time::timeout(GUARD, wait)
            .await
            .expect("event arrives")
    }

    /// Every event up to and including the first one matching `pred`.
    pub async fn until(&mut self, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut seen = Vec::new();
        let wait = async {
            loop {
                let (_, event) = self.events.recv().await.expect("session emits events");
                let done = pred(&event);
                seen.push(event);
                if done {
                    return;
                }
            }
        };
        tokio::time::timeout(GUARD, wait)
            .await
            .unwrap_or_else(|_| panic!("event never arrived; saw {seen:?}"));
        seen
    }
}

/// Polls `check` every 10 ms until it returns `Some` (a hang guard, not a
/// timing assertion); `what` names the awaited state in the panic.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let wait = async {
        loop {
            if let Some(found) = check() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("never happened: {what}"))
}
