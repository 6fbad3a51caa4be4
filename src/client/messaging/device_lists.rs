//! The device lists of the users a session wrote to lately, so that a
//! text to a recent chat goes out without a usync round trip first.
//!
//! A list is forgotten when the server announces a change of that user's
//! devices (`<notification type="devices">`), when a message arrives from
//! one of that user's devices that the list lacks, when the connection
//! drops (notifications may have been missed meanwhile), and at the
//! latest [`MAX_AGE`] after it was fetched. Only sessions that send hold
//! any: an idle session's cache is an empty map with no heap behind it.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::types::Jid;

/// How long a fetched list is trusted without any news (Baileys keeps
/// its user-devices cache for 5 minutes as well).
pub const MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// Most users a session keeps lists for; the oldest entry goes first.
pub const MAX_USERS: usize = 64;

/// What a usync answer says of one user: its device ids and, when the
/// server names it, its LID user (`N@lid`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserDevices {
    pub devices: Vec<u16>,
    pub lid: Option<Jid>,
}

/// Device lists by user JID (`user@server`).
#[derive(Default)]
pub struct DeviceLists {
    lists: HashMap<Jid, Entry>,
}

struct Entry {
    user: UserDevices,
    fetched: Instant,
}

impl DeviceLists {
    /// The devices (and LID) of `user`, if a fresh list is known.
    pub fn get(&self, user: &Jid, now: Instant) -> Option<&UserDevices> {
        self.lists
            .get(user)
            .filter(|e| now.saturating_duration_since(e.fetched) < MAX_AGE)
            .map(|e| &e.user)
    }

    /// Remembers lists a usync answer gave. Empty lists (users not on
    /// WhatsApp) are not kept: the next send asks again.
    pub fn insert(&mut self, lists: &HashMap<Jid, UserDevices>, now: Instant) {
        for (user, devices) in lists.iter().filter(|(_, d)| !d.devices.is_empty()) {
            if !self.lists.contains_key(user) && self.lists.len() >= MAX_USERS {
                self.evict_oldest();
            }
            self.lists.insert(
                user.clone(),
                Entry {
                    user: devices.clone(),
                    fetched: now,
                },
            );
        }
    }

    /// The LID a recent chat's usync named for `user`.
    pub fn lid_of(&self, user: &Jid) -> Option<&Jid> {
        self.lists.get(user)?.user.lid.as_ref()
    }

    /// Forgets `user`'s list (its devices changed); `user` may be the
    /// phone number a list is kept under or the LID it named.
    pub fn forget(&mut self, user: &Jid) {
        self.lists
            .retain(|key, e| key != user && e.user.lid.as_ref() != Some(user));
    }

    /// Forgets `user`'s list unless it already has `device`: a message
    /// from a device we did not know of means the list is stale.
    pub fn saw_device(&mut self, user: &Jid, device: u16) {
        self.lists.retain(|key, e| {
            let same = key == user || e.user.lid.as_ref() == Some(user);
            !same || e.user.devices.contains(&device)
        });
    }

    /// Forgets everything and gives the memory back.
    pub fn clear(&mut self) {
        self.lists = HashMap::new();
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .lists
            .iter()
            .min_by_key(|(_, e)| e.fetched)
            .map(|(user, _)| user.clone());
        if let Some(user) = oldest {
            self.lists.remove(&user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(pairs: &[(&str, &[u16])]) -> HashMap<Jid, UserDevices> {
        pairs
            .iter()
            .map(|(u, d)| {
                let devices = UserDevices {
                    devices: d.to_vec(),
                    lid: None,
                };
                (j(u), devices)
            })
            .collect()
    }

    fn j(text: &str) -> Jid {
        text.parse().unwrap()
    }

    #[test]
    fn a_list_is_served_until_it_is_too_old() {
        let mut cache = DeviceLists::default();
        let t0 = Instant::now();
        cache.insert(&lists(&[("1@s.whatsapp.net", &[0, 3])]), t0);
        assert_eq!(
            cache
                .get(&j("1@s.whatsapp.net"), t0)
                .map(|u| u.devices.as_slice()),
            Some(&[0, 3][..])
        );
        assert_eq!(cache.get(&j("1@s.whatsapp.net"), t0 + MAX_AGE), None);
        assert_eq!(cache.get(&j("2@s.whatsapp.net"), t0), None);
    }

    #[test]
    fn users_without_devices_are_not_kept() {
        let mut cache = DeviceLists::default();
        let t0 = Instant::now();
        cache.insert(&lists(&[("1@s.whatsapp.net", &[])]), t0);
        assert_eq!(cache.get(&j("1@s.whatsapp.net"), t0), None);
    }

    #[test]
    fn an_unknown_device_or_a_notification_drops_the_list() {
        let mut cache = DeviceLists::default();
        let t0 = Instant::now();
        cache.insert(
            &lists(&[("1@s.whatsapp.net", &[0, 3]), ("2@s.whatsapp.net", &[0])]),
            t0,
        );
        cache.saw_device(&j("1@s.whatsapp.net"), 3);
        assert!(cache.get(&j("1@s.whatsapp.net"), t0).is_some());
        cache.saw_device(&j("1@s.whatsapp.net"), 4);
        assert_eq!(cache.get(&j("1@s.whatsapp.net"), t0), None);
        cache.forget(&j("2@s.whatsapp.net"));
        assert_eq!(cache.get(&j("2@s.whatsapp.net"), t0), None);
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_oldest() {
        let mut cache = DeviceLists::default();
        let t0 = Instant::now();
        for i in 0..MAX_USERS + 1 {
            let user = format!("{i}@s.whatsapp.net");
            cache.insert(
                &lists(&[(&user, &[0])]),
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(cache.lists.len(), MAX_USERS);
        assert_eq!(cache.get(&j("0@s.whatsapp.net"), t0), None);
        let newest = format!("{MAX_USERS}@s.whatsapp.net");
        assert!(cache.get(&j(&newest), t0).is_some());
    }
}
