//! Groups: managing them over `w:g2` iqs and hearing of their changes.
//!
//! Owns: the group iqs (`specs`: create, info, the groups we are in,
//! participants added/removed/promoted/demoted, subject, description,
//! leave, invite codes, joining by code), the commands that send them
//! (`commands`), reading `<notification type="w:gp2">` into events
//! (`notification`), and, when a group's members change, forgetting
//! which devices hold our sender key (and, when members leave, the key
//! itself) so the next group message distributes a fresh one.
//! Must not touch: group messages (that is `messaging`), the socket.
//!
//! The feature keeps no state: a session that never uses groups pays
//! nothing for them, and what groups need across messages (sender keys)
//! stays in the store.

mod commands;
mod notification;
mod specs;
#[cfg(test)]
mod tests;
mod types;

use tokio::time::Instant;

use super::core::{envelope, Action, Ctx, Feature, Then, Work};
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

pub use specs::{
    ChangeParticipants, CreateGroup, GroupInfoQuery, InviteCode, JoinByInvite, LeaveGroup,
    ParticipatingGroups, SetDescription, SetSubject,
};
pub use types::{
    group_of, participant_of, AddressingMode, GroupInfo, GroupParticipant, JoinedGroup,
    ParticipantAction, ParticipantResult, ParticipantRole,
};

/// The groups feature (stateless; see the module doc).
#[derive(Default)]
pub struct Groups;

impl Feature for Groups {
    /// `<notification type="w:gp2">`: reported, then acked. When members
    /// changed, the store forgets first who holds our sender key.
    fn on_node(&mut self, ctx: &mut Ctx, node: &Node, _now: Instant) -> Option<Vec<Action>> {
        if node.tag != "notification" || node.get_attr("type") != Some("w:gp2") {
            return None;
        }
        let changes = notification::parse(node);
        let mut report: Vec<Action> = changes
            .events
            .into_iter()
            .map(Action::EmitDurable)
            .collect();
        report.extend(envelope::ack_actions(node));
        let Some(group) = changes
            .group
            .filter(|_| changes.members_added || changes.members_removed)
        else {
            return Some(report);
        };
        // Members cached for sending are stale now.
        ctx.groups_epoch = ctx.groups_epoch.wrapping_add(1);
        let own = if changes.members_removed {
            own_devices(ctx)
        } else {
            Vec::new()
        };
        Some(vec![Action::Blocking(Work::new(move |store| {
            if let Err(e) = forget_distribution(store, &group, &own) {
                tracing::error!(%group, error = %e, "cannot reset the group's sender-key state");
            }
            Then::to::<Groups>(move |_, _, _| report)
        }))])
    }
}

/// Our own device under both identities a group may address it by.
fn own_devices(ctx: &Ctx) -> Vec<DeviceAddress> {
    let Some(own) = ctx.own_device() else {
        return Vec::new();
    };
    let lid = ctx
        .creds
        .paired
        .as_ref()
        .and_then(|p| p.lid.as_ref())
        .and_then(|lid| DeviceAddress::lid(lid.user.clone(), own.device()));
    std::iter::once(own).chain(lid).collect()
}

/// The group's members changed: no device counts as holding our sender
/// key any more, and `own` sender keys (ours, when members left) are
/// dropped so the next message starts a chain the leavers never saw.
fn forget_distribution(
    store: &dyn crate::store::AuthStore,
    group: &Jid,
    own: &[DeviceAddress],
) -> Result<(), crate::store::StoreError> {
    store.reset_sender_key_devices(&group.user)?;
    for device in own {
        store.remove_sender_key(&group.user, device)?;
    }
    Ok(())
}
