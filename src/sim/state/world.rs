//! Every table of the simulated network in one value, guarded by the
//! one lock of [`super::SimState`], with the lookups everything needs.
//!
//! Owns: [`World`]: the tables and the lookups between them (a JID to a
//! known device, a device's online channel, queueing a stanza for a
//! device). Must not touch: the rules of linking, routing or prekeys
//! (the modules above), sockets.

use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc;

use super::accounts::{Account, Device};
use super::connections::Live;
use super::groups::Group;
use super::pairings::{CodeRequest, Pending};
use super::queues::{push_bounded, Queued, SenderIndex, MAX_QUEUED};
use crate::sim::error::SimError;
use crate::sim::protocol::addressing::Addressing;
use crate::types::{DeviceAddress, Jid, Server, SharedClock};
use crate::wire::Node;

/// The simulator's tables.
pub(crate) struct World {
    /// The date the network lives at.
    pub clock: SharedClock,
    /// Accounts by phone number.
    pub phones: HashMap<String, Account>,
    /// LID user -> phone number.
    pub lids: HashMap<String, String>,
    /// Pairings by the id of the connection that registered them.
    pub pending: HashMap<u64, Pending>,
    /// Ref -> connection id of the pairing that owns it.
    pub refs: HashMap<String, u64>,
    /// Linking-code requests by phone number (the newest one wins).
    pub code_requests: HashMap<String, CodeRequest>,
    /// Device -> the connection logged in as that device.
    pub live: HashMap<DeviceAddress, Live>,
    /// How many connections each device has had logged in at once.
    pub logins: super::Logins,
    /// Who sent recent messages, so receipts find their way back.
    pub senders: SenderIndex,
    /// Phone -> the devices that asked for its device list (usync): they
    /// are told when it changes.
    pub device_watchers: HashMap<String, HashSet<DeviceAddress>>,
    /// Groups by the user part of their JID.
    pub groups: HashMap<String, Group>,
    /// Invite code -> group id.
    pub invites: HashMap<String, String>,
    /// Invite codes an admin reset (joining by one is `gone`).
    pub revoked_invites: HashSet<String>,
}

impl World {
    pub fn new(clock: SharedClock) -> Self {
        World {
            clock,
            phones: HashMap::new(),
            lids: HashMap::new(),
            pending: HashMap::new(),
            refs: HashMap::new(),
            code_requests: HashMap::new(),
            live: HashMap::new(),
            logins: super::Logins::default(),
            senders: SenderIndex::default(),
            device_watchers: HashMap::new(),
            groups: HashMap::new(),
            invites: HashMap::new(),
            revoked_invites: HashSet::new(),
        }
    }

    /// Unix seconds now.
    pub fn now(&self) -> u64 {
        self.clock.unix_secs()
    }

    /// The account of phone number `phone`.
    pub fn account(&self, phone: &str) -> Result<&Account, SimError> {
        self.phones
            .get(phone)
            .ok_or_else(|| SimError::UnknownPhone(phone.to_owned()))
    }

    /// The account of phone number `phone`, to change.
    pub fn account_mut(&mut self, phone: &str) -> Result<&mut Account, SimError> {
        self.phones
            .get_mut(phone)
            .ok_or_else(|| SimError::UnknownPhone(phone.to_owned()))
    }

    /// The known device a JID names: by phone number (`s.whatsapp.net`,
    /// `c.us`) or by LID, any device id. An agent suffix (`N.A`) does not
    /// change the account. `None` for unknown accounts and other servers.
    pub fn resolve(&self, jid: &Jid) -> Option<DeviceAddress> {
        let user = jid.user.split('.').next().unwrap_or_default();
        let phone = match jid.server {
            Server::Pn | Server::LegacyUser => user,
            Server::Lid => self.lids.get(user)?.as_str(),
            _ => return None,
        };
        Some(self.phones.get(phone)?.device_address(jid.device))
    }

    /// Device `canonical` (by phone number) as namespace `addressing`
    /// writes it; itself when the account is unknown.
    pub fn present(&self, canonical: &DeviceAddress, addressing: Addressing) -> DeviceAddress {
        match self.phones.get(canonical.user()) {
            Some(account) => account.address_in(canonical.device(), addressing),
            None => canonical.clone(),
        }
    }

    /// Account `phone` as a chat in namespace `addressing`: its user JID.
    pub fn user_in(&self, phone: &str, addressing: Addressing) -> Option<Jid> {
        let account = self.phones.get(phone)?;
        Some(account.address_in(0, addressing).user_jid())
    }

    /// The companion at `address` (`None` for phones and unknown devices).
    pub fn device(&self, address: &DeviceAddress) -> Option<&Device> {
        self.phones
            .get(address.user())?
            .devices
            .get(&address.device())
    }

    /// The companion at `address`, to change.
    pub fn device_mut(&mut self, address: &DeviceAddress) -> Option<&mut Device> {
        self.phones
            .get_mut(address.user())?
            .devices
            .get_mut(&address.device())
    }

    /// Every device of `phone`: 0 (the phone) then its companions.
    pub fn devices_of(&self, phone: &str) -> Vec<DeviceAddress> {
        let Some(account) = self.phones.get(phone) else {
            return Vec::new();
        };
        std::iter::once(0)
            .chain(account.devices.keys().copied())
            .map(|id| account.device_address(id))
            .collect()
    }

    /// Where stanzas for `address` go right now, if it is online.
    pub fn online(&self, address: &DeviceAddress) -> Option<&mpsc::UnboundedSender<Node>> {
        self.live.get(address)?.deliver.as_ref()
    }

    /// Queues `node` for a companion until it acknowledges it, and hands
    /// it over at once if the device is online. Unknown devices are
    /// skipped (their messages are dropped, as the real server drops them
    /// for removed devices).
    /// Puts `node` at the head of `to`'s queue (what must reach it before
    /// anything already waiting), kept until acknowledged. Not sent live:
    /// for a device about to get its queue.
    pub fn enqueue_first(&mut self, to: &DeviceAddress, class: &'static str, id: &str, node: Node) {
        if let Some(device) = self.device_mut(to) {
            device.queue.push_front(Queued {
                class,
                id: id.to_string(),
                node,
            });
            device.queue.truncate(MAX_QUEUED);
        }
    }

    pub fn enqueue(&mut self, to: &DeviceAddress, class: &'static str, id: &str, node: Node) {
        let online = self.online(to).cloned();
        let Some(device) = self.device_mut(to) else {
            return;
        };
        let queued = Queued {
            class,
            id: id.to_string(),
            node: node.clone(),
        };
        push_bounded(&mut device.queue, queued, MAX_QUEUED);
        if let Some(deliver) = online {
            let _ = deliver.send(node);
        }
    }
}
