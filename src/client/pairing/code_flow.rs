//! Linking by code, as the session runs it: the state machine around the
//! crypto and stanzas of [`super::code`], still without I/O (PBKDF2 leaves
//! as [`Action::Blocking`]).
//!
//! Lifecycle:
//! `Hashing` (PBKDF2 on the blocking pool) → `Requesting` (`companion_hello`
//! sent) → `Shown` (code handed to the host; the phone may answer with up
//! to three `primary_hello`s, each answered by a `companion_finish`) →
//! `pair-success` ends the flow like a QR scan does. A flow that cannot
//! complete any more (expired, not confirmed in time, refreshed or refused
//! by the server) is written off and the pairing attempt ends.

use std::sync::Arc;

use tokio::time::Instant;

use super::code::{
    self, CompanionFinish, CompanionHello, PairCodeError, PairCodeNotification,
    MAX_PRIMARY_HELLO_ATTEMPTS,
};
use super::qr::client_type_char;
use super::state::{end_attempt, CodeFlow, CodeReply, Pairing, Shown, Step};
use crate::client::core::{envelope, Action, Ctx, IqSpec, Phase, Then, Work};
use crate::client::events::Event;
use crate::client::payload::platform_type;
use crate::client::ClientError;
use crate::proto::device_props::PlatformType;
use crate::types::PhoneNumber;
use crate::wire::Node;

/// `<iq xmlns="md"><link_code_companion_reg stage="companion_hello">`.
struct CompanionHelloIq {
    hello: Arc<CompanionHello>,
    phone: PhoneNumber,
    noise_public: [u8; 32],
    platform_id: String,
    platform_display: String,
}

impl IqSpec for CompanionHelloIq {
    /// The pairing ref the phone's answers will name.
    type Answer = Vec<u8>;

    fn request(&self, id: &str) -> Node {
        code::companion_hello_iq(
            &self.hello,
            id,
            &self.phone,
            &self.noise_public,
            &self.platform_id,
            &self.platform_display,
        )
    }

    /// Error answers are the server's refusals of the code request
    /// (rate limits, numbers it will not link), reported as such.
    fn parse(&self, answer: &Node) -> Result<Vec<u8>, ClientError> {
        Ok(code::parse_companion_hello_result(answer)?)
    }
}

/// `<iq xmlns="md"><link_code_companion_reg stage="companion_finish">`,
/// built by [`code::companion_finish`] off the async workers.
struct CompanionFinishIq(Node);

impl IqSpec for CompanionFinishIq {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        let mut node = self.0.clone();
        node.attrs.retain(|(k, _)| k != "id");
        node.attrs.push(("id".into(), id.to_string()));
        node
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        crate::client::core::expect_result(answer).map(|_| ())
    }
}

/// The linking-code command: valid only on an unlinked session whose
/// connection shows QR codes. A code still on screen (even one the phone
/// already answered) is replaced by the new one: that is how a user
/// retries after typing a wrong number or code. The QR rotation pauses
/// while a code flow lives (WA Web hides the QR once the user chose "link
/// with phone number").
pub fn request_code(phone: String, reply: CodeReply) -> Then {
    Then::to::<Pairing>(move |pairing, ctx, _| pairing.start_code(ctx, &phone, reply))
}

impl Pairing {
    fn start_code(&mut self, ctx: &mut Ctx, phone: &str, reply: CodeReply) -> Vec<Action> {
        let refusal = if ctx.creds.paired.is_some() {
            Some(ClientError::AlreadyLinked)
        } else {
            match ctx.phase {
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
                let _ = reply.send(Err(PairCodeError::from(e).into()));
                return Vec::new();
            }
        };
        if self.code.as_ref().is_some_and(|f| f.deadline().is_none()) {
            let _ = reply.send(Err(ClientError::PairCodeBusy));
            return Vec::new();
        }
        if self.code.take().is_some() {
            tracing::info!("a new linking code replaces the one shown");
        }
        self.code = Some(CodeFlow {
            phone,
            step: Step::Hashing { reply },
        });
        vec![Action::Blocking(Work::new(|_| {
            let hello = code::companion_hello(None);
            Then::to::<Pairing>(move |pairing, ctx, now| pairing.on_hello_ready(ctx, hello, now))
        }))]
    }

    /// `companion_hello` is computed: send it.
    fn on_hello_ready(
        &mut self,
        ctx: &mut Ctx,
        result: Result<CompanionHello, PairCodeError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(CodeFlow { phone, step }) = self.code.take() else {
            return Vec::new();
        };
        let reply = match step {
            Step::Hashing { reply } => reply,
            step => {
                self.code = Some(CodeFlow { phone, step });
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
        let spec = CompanionHelloIq {
            hello: hello.clone(),
            phone: phone.clone(),
            noise_public: ctx.creds.noise_key.public,
            platform_id: client_type_char(&ctx.config.browser).to_string(),
            platform_display: platform_display(&ctx.config.browser, &ctx.config.device_os),
        };
        let send = ctx.send_iq(spec, now, |pairing: &mut Pairing, ctx, answer, now| {
            pairing.on_hello_answer(ctx, answer, now)
        });
        self.code = Some(CodeFlow {
            phone,
            step: Step::Requesting { hello, reply },
        });
        vec![send]
    }

    /// The server answered `companion_hello` (or did not in time).
    fn on_hello_answer(
        &mut self,
        ctx: &mut Ctx,
        answer: Result<Vec<u8>, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(CodeFlow { phone, step }) = self.code.take() else {
            return Vec::new();
        };
        let (hello, reply) = match step {
            Step::Requesting { hello, reply } => (hello, reply),
            step => {
                self.code = Some(CodeFlow { phone, step });
                return Vec::new();
            }
        };
        match answer {
            Ok(pairing_ref) => {
                let code = hello.code.clone();
                self.code = Some(CodeFlow {
                    phone,
                    step: Step::Shown(Shown {
                        hello,
                        pairing_ref,
                        deadline: now + ctx.config.pair_code_ttl,
                        attempts: 0,
                    }),
                });
                let _ = reply.send(Ok(code.clone()));
                vec![Action::Emit(Event::PairCode { code })]
            }
            Err(e) => {
                if !matches!(e, ClientError::Timeout | ClientError::NotConnected) {
                    tracing::warn!(error = %e, "linking code refused");
                }
                let _ = reply.send(Err(e));
                Vec::new()
            }
        }
    }

    /// `<notification type="link_code_companion_reg">`: acked always;
    /// a `primary_hello` for the shown code starts `companion_finish`.
    pub(super) fn on_code_notification(&mut self, ctx: &mut Ctx, node: &Node) -> Vec<Action> {
        let mut out = envelope::ack_actions(node);
        let notification = match code::parse_notification(node) {
            Ok(notification) => notification,
            Err(e) => {
                tracing::warn!(error = %e, "unusable pair-code notification");
                return out;
            }
        };
        let identity = ctx.creds.identity_key.clone();
        let Some(CodeFlow {
            phone,
            step: Step::Shown(shown),
        }) = self.code.as_mut()
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
                    let result = code::companion_finish(
                        &hello,
                        &pairing_ref,
                        &primary,
                        &identity,
                        "",
                        &phone,
                    );
                    Then::to::<Pairing>(move |pairing, ctx, now| {
                        pairing.on_finish_ready(ctx, pairing_ref, result, now)
                    })
                })));
            }
            PairCodeNotification::RefreshCode { pairing_ref, .. } => {
                if pairing_ref == shown.pairing_ref {
                    out.extend(self.write_off(ctx, "linking code expired (server refresh)"));
                }
            }
        }
        out
    }

    /// `companion_finish` is computed: adopt its ADV secret (persisted
    /// before the iq leaves, so the coming `pair-success` is checked
    /// against it even across a crash), then send it.
    fn on_finish_ready(
        &mut self,
        ctx: &mut Ctx,
        pairing_ref: Vec<u8>,
        result: Result<CompanionFinish, PairCodeError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(CodeFlow {
            step: Step::Shown(shown),
            ..
        }) = self.code.as_mut()
        else {
            return Vec::new();
        };
        if shown.pairing_ref != pairing_ref {
            return Vec::new();
        }
        match result {
            Ok(finish) => {
                shown.deadline = now + ctx.config.pair_code_success_timeout;
                ctx.creds.adv_secret_key = finish.adv_secret;
                let send = ctx.send_iq(
                    CompanionFinishIq(finish.iq),
                    now,
                    |pairing: &mut Pairing, ctx, answer, _| match answer {
                        // A refusal is final (as on WA Web); silence is
                        // the pair-success timer's to judge.
                        Err(ClientError::Server { code, .. }) => pairing.write_off(
                            ctx,
                            &format!("linking code refused by the server ({code})"),
                        ),
                        Err(ClientError::Timeout) => {
                            tracing::warn!("companion_finish unanswered");
                            Vec::new()
                        }
                        _ => Vec::new(),
                    },
                );
                vec![Action::SaveCreds, send]
            }
            Err(e) => {
                // This attempt of the phone fails; the code stays usable.
                tracing::warn!(error = %e, "cannot answer primary_hello");
                Vec::new()
            }
        }
    }

    /// Writes the code off once its time is up.
    pub(super) fn on_code_timer(&mut self, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        let Some(CodeFlow {
            step: Step::Shown(shown),
            ..
        }) = self.code.as_ref()
        else {
            return Vec::new();
        };
        if shown.deadline > now {
            return Vec::new();
        }
        if shown.attempts == 0 {
            self.write_off(ctx, "linking code expired")
        } else {
            // The phone could not open our key bundle (mistyped or
            // superseded code): the phone never tells us, silence does.
            self.write_off(ctx, "linking code not confirmed by the phone")
        }
    }

    /// Ends a code that can no longer link, and with it this pairing
    /// attempt, like an exhausted QR rotation. An ADV secret the flow
    /// derived is replaced by a fresh one: only the phone that failed
    /// could ever match it.
    fn write_off(&mut self, ctx: &mut Ctx, reason: &str) -> Vec<Action> {
        let Some(flow) = self.code.take() else {
            return Vec::new();
        };
        let derived = matches!(&flow.step, Step::Shown(s) if s.attempts > 0);
        flow.fail(ClientError::Pairing(reason.to_string()));
        let mut out = Vec::new();
        if derived {
            ctx.creds.adv_secret_key = rand::random();
            out.push(Action::SaveCreds);
        }
        self.qr = None;
        out.extend(end_attempt(reason));
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
