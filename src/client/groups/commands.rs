//! The group commands: methods on [`Client`] that check their arguments,
//! then send one group iq (two for a description, which names the one it
//! replaces) through the session and wait for its answer.
//!
//! Owns: these methods and the continuations they hand the session.
//! Must not touch: the iqs' shapes (`specs`), state.

use tokio::sync::oneshot;

use super::specs::{
    ChangeParticipants, CreateGroup, GroupInfoQuery, InviteCode, JoinByInvite, LeaveGroup,
    ParticipatingGroups, SetDescription, SetSubject,
};
use super::types::{
    group_of, participant_of, GroupInfo, JoinedGroup, ParticipantAction, ParticipantResult,
};
use super::{forget_distribution, own_devices, Groups};
use crate::client::core::{Action, Ctx, IqSpec, Phase, Then, Work};
use crate::client::{Client, ClientError};
use crate::types::Jid;

type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// Sends `spec` once logged in; its answer (or the failure) goes to `reply`.
pub(super) fn ask<S: IqSpec>(spec: S, reply: Reply<S::Answer>) -> Then {
    Then::to::<Groups>(move |_, ctx, now| {
        if ctx.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        vec![ctx.send_iq(spec, now, move |_: &mut Groups, _, answer, _| {
            let _ = reply.send(answer);
            Vec::new()
        })]
    })
}

/// Sends `spec`, which may change a group's members (an add, a remove,
/// our leave or join). When `changed` says it did, the members cached
/// for sending are stale (`Ctx::groups_epoch`); when members left the
/// group `rotate` names, our sender key for it and the record of who
/// holds it are dropped before the caller hears. The server tells the
/// other members' devices, not the one that asked, so no notification
/// would do either for us.
pub(super) fn ask_changing<S: IqSpec>(
    spec: S,
    rotate: Option<Jid>,
    changed: impl FnOnce(&S::Answer) -> bool + Send + 'static,
    reply: Reply<S::Answer>,
) -> Then
where
    S::Answer: Send,
{
    Then::to::<Groups>(move |_, ctx, now| {
        if ctx.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        vec![ctx.send_iq(spec, now, move |_: &mut Groups, ctx, answer, _| {
            if !answer.as_ref().is_ok_and(changed) {
                let _ = reply.send(answer);
                return Vec::new();
            }
            ctx.groups_epoch = ctx.groups_epoch.wrapping_add(1);
            let Some(group) = rotate else {
                let _ = reply.send(answer);
                return Vec::new();
            };
            let own = own_devices(ctx);
            vec![Action::Blocking(Work::new(move |store| {
                if let Err(e) = forget_distribution(store, &group, &own) {
                    tracing::error!(%group, error = %e, "cannot drop our sender key after members left");
                }
                Then::to::<Groups>(move |_, _, _| {
                    let _ = reply.send(answer);
                    Vec::new()
                })
            }))]
        })]
    })
}

/// Whether a participant change was done for anyone.
fn any_done(results: &[ParticipantResult]) -> bool {
    results.iter().any(|r| r.error.is_none())
}

/// Reads the group's current description id, then replaces it.
pub(super) fn describe(group: Jid, description: Option<String>, reply: Reply<()>) -> Then {
    Then::to::<Groups>(move |_, ctx, now| {
        if ctx.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        let query = GroupInfoQuery {
            group: group.clone(),
        };
        vec![ctx.send_iq(
            query,
            now,
            move |_: &mut Groups, ctx: &mut Ctx, answer, now| {
                let info = match answer {
                    Ok(info) => info,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Vec::new();
                    }
                };
                let spec = SetDescription::new(group, description, info.description_id);
                vec![ctx.send_iq(spec, now, move |_: &mut Groups, _, answer, _| {
                    let _ = reply.send(answer);
                    Vec::<Action>::new()
                })]
            },
        )]
    })
}

fn group_arg(group: &str) -> Result<Jid, ClientError> {
    group_of(group).ok_or_else(|| {
        ClientError::InvalidGroup(format!("{group:?} is not a group JID (<id>@g.us)"))
    })
}

fn participants_arg(participants: &[String]) -> Result<Vec<Jid>, ClientError> {
    if participants.is_empty() {
        return Err(ClientError::InvalidRecipient(
            "no participants given".into(),
        ));
    }
    participants
        .iter()
        .map(|p| {
            participant_of(p).ok_or_else(|| {
                ClientError::InvalidRecipient(format!(
                    "{p:?} is neither a phone number with country code nor a user JID"
                ))
            })
        })
        .collect()
}

impl Client {
    /// Runs one group command and waits for its answer.
    async fn group_command<T>(
        &self,
        command: impl FnOnce(Reply<T>) -> Then,
    ) -> Result<T, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(command(reply)).await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Creates a group named `subject` with `participants` (phone numbers
    /// or user JIDs) and us as its creator; returns its metadata.
    ///
    /// Errors: `InvalidRecipient`, `NotConnected`, `Timeout`, `Server`.
    pub async fn create_group(
        &self,
        subject: &str,
        participants: &[String],
    ) -> Result<GroupInfo, ClientError> {
        let spec = CreateGroup {
            subject: subject.to_string(),
            participants: participants_arg(participants)?,
        };
        self.group_command(|reply| ask(spec, reply)).await
    }

    /// A group's metadata and members. Errors: `InvalidGroup`,
    /// `GroupNotFound` (or we are not a member), `NotConnected`,
    /// `Timeout`, `Server`.
    pub async fn group_info(&self, group: &str) -> Result<GroupInfo, ClientError> {
        let spec = GroupInfoQuery {
            group: group_arg(group)?,
        };
        self.group_command(|reply| ask(spec, reply)).await
    }

    /// Every group we are a member of.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        self.group_command(|reply| ask(ParticipatingGroups, reply))
            .await
    }

    /// Adds, removes, promotes or demotes members; the answer says how it
    /// went for each. Errors: `InvalidGroup`, `InvalidRecipient`,
    /// `GroupNotFound`, `NotGroupAdmin`, `NotConnected`, `Timeout`.
    pub async fn update_group_participants(
        &self,
        group: &str,
        action: ParticipantAction,
        participants: &[String],
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        let group = group_arg(group)?;
        let spec = ChangeParticipants {
            group: group.clone(),
            action,
            participants: participants_arg(participants)?,
        };
        let rotate = match action {
            ParticipantAction::Add => None,
            ParticipantAction::Remove => Some(group),
            ParticipantAction::Promote | ParticipantAction::Demote => {
                return self.group_command(|reply| ask(spec, reply)).await
            }
        };
        self.group_command(|reply| ask_changing(spec, rotate, |r: &Vec<_>| any_done(r), reply))
            .await
    }

    /// Renames a group.
    pub async fn set_group_subject(&self, group: &str, subject: &str) -> Result<(), ClientError> {
        let spec = SetSubject {
            group: group_arg(group)?,
            subject: subject.to_string(),
        };
        self.group_command(|reply| ask(spec, reply)).await
    }

    /// Sets (or, with `None`, removes) a group's description.
    pub async fn set_group_description(
        &self,
        group: &str,
        description: Option<&str>,
    ) -> Result<(), ClientError> {
        let group = group_arg(group)?;
        let description = description.map(str::to_string);
        self.group_command(|reply| describe(group, description, reply))
            .await
    }

    /// Leaves a group.
    pub async fn leave_group(&self, group: &str) -> Result<(), ClientError> {
        let group = group_arg(group)?;
        let spec = LeaveGroup {
            group: group.clone(),
        };
        self.group_command(|reply| ask_changing(spec, Some(group), |_| true, reply))
            .await
    }

    /// The group's invite code (the link is
    /// `https://chat.whatsapp.com/<code>`); with `reset`, the old one is
    /// revoked and a new one returned.
    pub async fn group_invite_code(&self, group: &str, reset: bool) -> Result<String, ClientError> {
        let spec = InviteCode {
            group: group_arg(group)?,
            reset,
        };
        self.group_command(|reply| ask(spec, reply)).await
    }

    /// Joins the group an invite code (or its whole link) leads to.
    pub async fn join_group(&self, code: &str) -> Result<JoinedGroup, ClientError> {
        let code = invite_code_of(code)?;
        self.group_command(|reply| ask_changing(JoinByInvite { code }, None, |_| true, reply))
            .await
    }
}

/// The code of an invite: as given, or the last part of its link
/// (`https://chat.whatsapp.com/<code>`).
pub(super) fn invite_code_of(text: &str) -> Result<String, ClientError> {
    let code = text.trim().trim_end_matches('/');
    let code = ["https://chat.whatsapp.com/", "chat.whatsapp.com/"]
        .iter()
        .find_map(|prefix| code.strip_prefix(prefix))
        .unwrap_or(code);
    let valid = (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(ClientError::InvalidGroup(format!(
            "{text:?} is not an invite code or link"
        )));
    }
    Ok(code.to_string())
}
