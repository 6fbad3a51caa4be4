//! The members of the groups a session texted lately, so a text to a
//! group does not ask the server for them every time: once device lists
//! and sender keys are in place, that query is half of a group send's
//! round trips.
//!
//! An entry is trusted until the session hears that some group's members
//! may have changed (`Ctx::groups_epoch`, moved on by the groups feature
//! for `w:gp2` membership notifications and for our own adds, removals,
//! leaves and joins), until the server refuses a text to the group, until
//! the connection drops, and at the latest [`MAX_AGE`] after it was
//! fetched. An idle session's cache is an empty map with no heap.
//!
//! Owns: that cache. Must not touch: the store, the send flow.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::groups::GroupInfo;
use crate::types::Jid;

/// How long a group's members are trusted without any news (as device
/// lists are).
pub const MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// Most groups kept; the oldest entry goes first.
pub const MAX_GROUPS: usize = 32;

/// Group info by group JID, valid for one membership epoch.
#[derive(Default)]
pub struct GroupMembers {
    groups: HashMap<Jid, (GroupInfo, Instant)>,
    /// The `Ctx::groups_epoch` the entries were fetched in.
    epoch: u64,
}

impl GroupMembers {
    /// The group's info, if fetched in `epoch` and fresh.
    pub fn get(&mut self, group: &Jid, epoch: u64, now: Instant) -> Option<GroupInfo> {
        if epoch != self.epoch {
            self.clear();
            self.epoch = epoch;
        }
        self.groups
            .get(group)
            .filter(|(_, fetched)| now.saturating_duration_since(*fetched) < MAX_AGE)
            .map(|(info, _)| info.clone())
    }

    /// Keeps `info`, asked for in `epoch` (an answer to a question asked
    /// before a change was heard of is not kept).
    pub fn insert(&mut self, info: &GroupInfo, epoch: u64, now: Instant) {
        if epoch != self.epoch {
            return;
        }
        if !self.groups.contains_key(&info.jid) && self.groups.len() >= MAX_GROUPS {
            let oldest = self
                .groups
                .iter()
                .min_by_key(|(_, (_, fetched))| *fetched)
                .map(|(jid, _)| jid.clone());
            if let Some(oldest) = oldest {
                self.groups.remove(&oldest);
            }
        }
        self.groups.insert(info.jid.clone(), (info.clone(), now));
    }

    pub fn forget(&mut self, group: &Jid) {
        self.groups.remove(group);
    }

    /// Drops everything, and the map's heap with it.
    pub fn clear(&mut self) {
        self.groups = HashMap::new();
    }
}
