//! Linking by code, as the session's protocol logic runs it (the crypto
//! and stanzas are [`crate::client::pair_code`]; this is the state machine
//! around them, still without I/O: PBKDF2 leaves as [`Action::Blocking`]).
//!
//! Lifecycle:
//! `Hashing` (PBKDF2 on the blocking pool) → `Requesting` (`companion_hello`
//! sent) → `Shown` (code handed to the host; the phone may answer with up
//! to three `primary_hello`s, each answered by a `companion_finish`) →
//! `pair-success` ends the flow like a QR scan does. A flow that cannot
//! complete any more (expired, not confirmed in time, refreshed or refused
//! by the server) is written off and the pairing attempt ends.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Action, Ending, Phase, Protocol, Work, WorkDone};
use crate::client::events::Event;
use crate::client::iq::IqKind;
use crate::client::pair_code::{
    self, CompanionFinish, CompanionHello, PairCodeError, PairCodeNotification, PhoneNumber,
    MAX_PRIMARY_HELLO_ATTEMPTS,
};
use crate::client::payload::platform_type;
use crate::client::qr::client_type_char;
use crate::client::{stanzas, ClientError};
use crate::proto::device_props::PlatformType;
use crate::wire::Node;

/// Where `request_pair_code` gets its answer.
pub type CodeReply = oneshot::Sender<Result<String, ClientError>>;

/// One linking-code attempt on the current connection.
pub struct CodeFlow {
    phone: PhoneNumber,
    step: Step,
}

enum Step {
    /// `companion_hello` (PBKDF2) is being computed.
    Hashing { reply: CodeReply },
    /// `companion_hello` is sent; waiting for the server's ref.
    Requesting {
        hello: Arc<CompanionHello>,
        reply: CodeReply,
    },
    /// The code is out; waiting for the phone.
    Shown(Shown),
}

struct Shown {
    hello: Arc<CompanionHello>,
    pairing_ref: Vec<u8>,
    /// The code is written off at this instant: its validity while the
    /// phone has not answered, then the pair-success timeout after each
    /// `companion_finish`.
    deadline: Instant,
    /// `primary_hello`s answered so far.
    attempts: u32,
}

impl CodeFlow {
    /// When the flow must be looked at again (only a shown code has a
    /// timer; the iqs before it have their own).
    pub fn deadline(&self) -> Option<Instant> {
        match &self.step {
            Step::Shown(shown) => Some(shown.deadline),
            _ => None,
        }
    }

    /// Drops the flow, answering a caller still waiting for its code.
    pub fn fail(self, error: ClientError) {
        match self.step {
            Step::Hashing { reply } | Step::Requesting { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Step::Shown(_) => {}
        }
    }
}

impl Protocol {
    /// `Command::PairCode`: valid only on an unlinked session whose
    /// connection shows QR codes. A code still on screen (even one the
    /// phone already answered) is replaced by the new one: that is how a
    /// user retries after typing a wrong number or code. The QR rotation
    /// pauses while a code flow lives (WA Web hides the QR once the user
    /// chose "link with phone number").
    pub(super) fn start_pair_code(&mut self, phone: &str, reply: CodeReply) -> Vec<Action> {
        let refusal = if self.creds.paired.is_some() {
            Some(ClientError::AlreadyLinked)
        } else {
            match self.phase {
                Phase::Pairing => None,
                Phase::Offline => Some(ClientError::NotConnected),
                Phase::Handshaken | Phase::Paired | Phase::Connected => {
                    Some(ClientError::NotPairing)
                }
            }
        };
        if let Some(error) = refusal {
            let _ = reply.send(Err(error));
            return Vec::new();
        }
        let phone = match PhoneNumber::parse(phone) {
            Ok(phone) => phone,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return Vec::new();
            }
        };
        if self
            .pair_code
            .as_ref()
            .is_some_and(|f| f.deadline().is_none())
        {
            let _ = reply.send(Err(ClientError::PairCodeBusy));
            return Vec::new();
        }
        if self.pair_code.take().is_some() {
            tracing::info!("a new linking code replaces the one shown");
        }
        self.pair_code = Some(CodeFlow {
            phone,
            step: Step::Hashing { reply },
        });
        vec![Action::Blocking(Work::new(|_| {
            WorkDone::PairCodeHello(pair_code::companion_hello(None))
        }))]
    }

    /// `companion_hello` is computed: send it.
    pub(super) fn on_pair_code_hello_ready(
        &mut self,
        result: Result<CompanionHello, PairCodeError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(CodeFlow { phone, step }) = self.pair_code.take() else {
            return Vec::new();
        };
        let reply = match step {
            Step::Hashing { reply } => reply,
            step => {
                self.pair_code = Some(CodeFlow { phone, step });
                return Vec::new();
            }
        };
        let hello = match result {
            Ok(hello) => Arc::new(hello),
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return Vec::new();
            }
        };
        let id = self.iqs.next_id();
        let node = pair_code::companion_hello_iq(
            &hello,
            &id,
            &phone,
            &self.creds.noise_key.public,
            &client_type_char(&self.config.browser).to_string(),
            &platform_display(&self.config.browser, &self.config.device_os),
        );
        self.iqs
            .track(id, IqKind::PairCodeHello, now + self.config.iq_timeout);
        self.pair_code = Some(CodeFlow {
            phone,
            step: Step::Requesting { hello, reply },
        });
        vec![Action::Send(node)]
    }

    /// The server answered `companion_hello` (`None`: it did not in time).
    pub(super) fn on_pair_code_hello_answer(
        &mut self,
        answer: Option<&Node>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(CodeFlow { phone, step }) = self.pair_code.take() else {
            return Vec::new();
        };
        let (hello, reply) = match step {
            Step::Requesting { hello, reply } => (hello, reply),
            step => {
                self.pair_code = Some(CodeFlow { phone, step });
                return Vec::new();
            }
        };
        let Some(answer) = answer else {
            let _ = reply.send(Err(ClientError::Timeout));
            return Vec::new();
        };
        match pair_code::parse_companion_hello_result(answer) {
            Ok(pairing_ref) => {
                let code = hello.code.clone();
                self.pair_code = Some(CodeFlow {
                    phone,
                    step: Step::Shown(Shown {
                        hello,
                        pairing_ref,
                        deadline: now + self.config.pair_code_ttl,
                        attempts: 0,
                    }),
                });
                let _ = reply.send(Ok(code.clone()));
                vec![Action::Emit(Event::PairCode { code })]
            }
            Err(e) => {
                tracing::warn!(error = %e, "linking code refused");
                let _ = reply.send(Err(e.into()));
                Vec::new()
            }
        }
    }

    /// `<notification type="link_code_companion_reg">`: acked always;
    /// a `primary_hello` for the shown code starts `companion_finish`.
    pub(super) fn on_pair_code_notification(&mut self, node: &Node) -> Vec<Action> {
        let mut out: Vec<Action> = stanzas::ack(node).map(Action::Send).into_iter().collect();
        let notification = match pair_code::parse_notification(node) {
            Ok(notification) => notification,
            Err(e) => {
                tracing::warn!(error = %e, "unusable pair-code notification");
                return out;
            }
        };
        let iq_id = self.iqs.next_id();
        let identity = self.creds.identity_key.clone();
        let Some(CodeFlow {
            phone,
            step: Step::Shown(shown),
        }) = self.pair_code.as_mut()
        else {
            tracing::debug!("pair-code notification without a code on screen; ignored");
            return out;
        };
        match notification {
            PairCodeNotification::PrimaryHello(primary) => {
                // Checked before paying for PBKDF2.
                if primary.pairing_ref != shown.pairing_ref {
                    tracing::warn!("primary_hello for another linking code; ignored");
                    return out;
                }
                if shown.attempts >= MAX_PRIMARY_HELLO_ATTEMPTS {
                    tracing::warn!("too many primary_hello attempts for one code; ignored");
                    return out;
                }
                shown.attempts += 1;
                let hello = shown.hello.clone();
                let pairing_ref = shown.pairing_ref.clone();
                let phone = phone.clone();
                out.push(Action::Blocking(Work::new(move |_| {
                    let result = pair_code::companion_finish(
                        &hello,
                        &pairing_ref,
                        &primary,
                        &identity,
                        &iq_id,
                        &phone,
                    );
                    WorkDone::PairCodeFinish {
                        pairing_ref,
                        iq_id,
                        result,
                    }
                })));
            }
            PairCodeNotification::RefreshCode { pairing_ref, .. } => {
                if pairing_ref == shown.pairing_ref {
                    out.extend(self.write_off_pair_code("linking code expired (server refresh)"));
                }
            }
        }
        out
    }

    /// `companion_finish` is computed: adopt its ADV secret (persisted
    /// before the iq leaves, so the coming `pair-success` is checked
    /// against it even across a crash), then send it.
    pub(super) fn on_pair_code_finish_ready(
        &mut self,
        pairing_ref: Vec<u8>,
        iq_id: String,
        result: Result<CompanionFinish, PairCodeError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(CodeFlow {
            step: Step::Shown(shown),
            ..
        }) = self.pair_code.as_mut()
        else {
            return Vec::new();
        };
        if shown.pairing_ref != pairing_ref {
            return Vec::new();
        }
        match result {
            Ok(finish) => {
                shown.deadline = now + self.config.pair_code_success_timeout;
                self.creds.adv_secret_key = finish.adv_secret;
                self.iqs
                    .track(iq_id, IqKind::PairCodeFinish, now + self.config.iq_timeout);
                vec![Action::SaveCreds, Action::Send(finish.iq)]
            }
            Err(e) => {
                // This attempt of the phone fails; the code stays usable.
                tracing::warn!(error = %e, "cannot answer primary_hello");
                Vec::new()
            }
        }
    }

    /// The server answered `companion_finish`. A refusal is final (as on
    /// WA Web); an unanswered one is left to the pair-success timer.
    pub(super) fn on_pair_code_finish_answer(&mut self, answer: &Node) -> Vec<Action> {
        if answer.get_attr("type") == Some("result") {
            return Vec::new();
        }
        let error = answer.child("error");
        let code = error.and_then(|e| e.get_attr("code")).unwrap_or_default();
        self.write_off_pair_code(&format!("linking code refused by the server ({code})"))
    }

    /// Writes the code off once its time is up.
    pub(super) fn on_pair_code_timer(&mut self, now: Instant) -> Vec<Action> {
        let Some(CodeFlow {
            step: Step::Shown(shown),
            ..
        }) = self.pair_code.as_ref()
        else {
            return Vec::new();
        };
        if shown.deadline > now {
            return Vec::new();
        }
        if shown.attempts == 0 {
            self.write_off_pair_code("linking code expired")
        } else {
            // The phone could not open our key bundle (mistyped or
            // superseded code): the phone never tells us, silence does.
            self.write_off_pair_code("linking code not confirmed by the phone")
        }
    }

    /// Ends a code that can no longer link, and with it this pairing
    /// attempt, like an exhausted QR rotation: the session stops and the
    /// host starts it again for a new connection and code. An ADV secret
    /// the flow derived is replaced by a fresh one: only the phone that
    /// failed could ever match it.
    fn write_off_pair_code(&mut self, reason: &str) -> Vec<Action> {
        let Some(flow) = self.pair_code.take() else {
            return Vec::new();
        };
        let derived = matches!(&flow.step, Step::Shown(s) if s.attempts > 0);
        flow.fail(ClientError::Pairing(reason.to_string()));
        let mut out = Vec::new();
        if derived {
            self.creds.adv_secret_key = rand::random();
            out.push(Action::SaveCreds);
        }
        self.qr = None;
        out.push(Action::Emit(Event::Disconnected {
            reason: reason.to_string(),
        }));
        out.push(Action::End(Ending::Stop {
            failed: false,
            reason: reason.to_string(),
            done: None,
        }));
        out
    }
}

/// `companion_platform_display`: `Browser (OS)` with names the server
/// knows. Unknown browsers show as Chrome and unknown systems as Linux,
/// as wacore-0.7.0 `companion_reg` does (the server answers 400 to
/// anything else).
pub fn platform_display(browser: &str, os: &str) -> String {
    let browser = match platform_type(browser) {
        PlatformType::Edge => "Edge",
        PlatformType::Firefox => "Firefox",
        PlatformType::Ie => "IE",
        PlatformType::Opera => "Opera",
        PlatformType::Safari => "Safari",
        _ => "Chrome",
    };
    let os = os.to_ascii_lowercase();
    let os = if os.contains("windows") {
        "Windows"
    } else if os.contains("mac") || os.contains("darwin") || os.contains("osx") {
        "Mac OS"
    } else {
        "Linux"
    };
    format!("{browser} ({os})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_names_the_server_knows() {
        assert_eq!(platform_display("chrome", "wasp"), "Chrome (Linux)");
        assert_eq!(
            platform_display("firefox", "Windows 11"),
            "Firefox (Windows)"
        );
        assert_eq!(platform_display("netscape", "macOS"), "Chrome (Mac OS)");
        assert_eq!(platform_display("desktop", ""), "Chrome (Linux)");
    }
}
