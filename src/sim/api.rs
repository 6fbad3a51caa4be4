//! The simulator's operations as the admin API and tests drive them: the
//! public methods of [`SimState`], each a thin entry into the module that
//! owns the concept.
//!
//! Owns: the public signatures (what tests and `admin` call) and where
//! text from outside becomes typed (device JIDs as written, printed back
//! as text). Must not touch: HTTP (`admin`), the rules themselves (each
//! method delegates).

use crate::sim::accounts::{self, DeviceInfo, LidStatus};
use crate::sim::error::SimError;
use crate::sim::groups::admin::{self as groups, GroupSummary};
use crate::sim::linking::{code, qr_scan};
use crate::sim::media::routes;
use crate::sim::network::faults;
use crate::sim::phone::admin;
use crate::sim::phone::history_sync::HistoryShared;
use crate::sim::phone::lid_sync::LidsShared;
use crate::sim::phone::send::{self, SentByPhone};
use crate::sim::phone::send_media::PhoneMedia;
use crate::sim::state::{FaultKind, LoginReport, PhoneMessage, PhoneReceipt, SimState};
use crate::types::Jid;

impl SimState {
    /// Creates a simulated phone. `phone` must be digits (6 to 15); a
    /// random unused number is chosen when it is `None`.
    pub fn create_phone(&self, phone: Option<String>) -> Result<String, SimError> {
        accounts::create_phone(self, phone)
    }

    /// `GET /sim/phones/{phone}/lid`: the account's LID and whether its
    /// 1:1 chats are on it.
    pub fn lid_status(&self, phone: &str) -> Result<LidStatus, SimError> {
        accounts::lid_status(self, phone)
    }

    /// `POST /sim/phones/{phone}/lid`: moves the account's 1:1 chats to
    /// LID addressing (or back).
    pub fn set_lid_migrated(&self, phone: &str, migrated: bool) -> Result<LidStatus, SimError> {
        accounts::set_lid_migrated(self, phone, migrated)
    }

    /// `POST /sim/phones/{phone}/messages` with `media`: the phone sends
    /// a file to a contact.
    pub fn phone_send_media(
        &self,
        phone: &str,
        to: &str,
        media: PhoneMedia,
    ) -> Result<SentByPhone, SimError> {
        crate::sim::phone::send_media::phone_send_media(self, phone, to, media)
    }

    /// `POST /sim/phones/{phone}/lid-mappings`: the phone pushes its
    /// contacts' phone number → LID pairs to each of its companions.
    pub fn share_lid_mappings(
        &self,
        phone: &str,
        contacts: &[String],
    ) -> Result<LidsShared, SimError> {
        crate::sim::phone::lid_sync::phone_share_lids(self, phone, contacts)
    }

    /// `POST /sim/phones/{phone}/history-sync`: the phone hands its
    /// companions a history chunk with `contacts`' LIDs (uploaded, or
    /// `inline` in the notification).
    pub fn share_history(
        &self,
        phone: &str,
        contacts: &[String],
        inline: bool,
    ) -> Result<HistoryShared, SimError> {
        crate::sim::phone::history_sync::phone_share_history(self, phone, contacts, inline)
    }

    /// `POST /sim/media/expire`: the media hosts drop the file at
    /// `direct_path` (downloads then get 404, as for expired media); the
    /// phones keep their copy and upload it again when a companion asks.
    pub fn expire_media(&self, direct_path: &str) -> Result<(), SimError> {
        let gone = routes::file_name(direct_path).is_some_and(|name| self.media().expire(name));
        gone.then_some(())
            .ok_or_else(|| SimError::UnknownMedia(direct_path.to_owned()))
    }

    /// Every file on the media hosts expires (the phones keep their
    /// copies); how many did.
    pub fn expire_all_media(&self) -> usize {
        self.media().expire_all()
    }

    /// Damages one byte of the file at `direct_path`, as a broken transfer
    /// or a tampering middlebox would.
    pub fn corrupt_media(&self, direct_path: &str, offset: usize) -> Result<(), SimError> {
        let damaged =
            routes::file_name(direct_path).is_some_and(|name| self.media().corrupt(name, offset));
        damaged
            .then_some(())
            .ok_or_else(|| SimError::UnknownMedia(direct_path.to_owned()))
    }

    /// The phone's linked devices and whether each is connected.
    pub fn devices(&self, phone: &str) -> Result<Vec<DeviceInfo>, SimError> {
        accounts::devices(self, phone)
    }

    /// The phone scans a companion's QR: the companion's connection gets
    /// `<pair-success>`, and this returns the new device JID once the
    /// companion has signed its identity and the device is registered.
    pub async fn scan(&self, phone: &str, qr: &str) -> Result<String, SimError> {
        let device = qr_scan::scan(self, phone, qr).await?;
        Ok(device.to_string())
    }

    /// The phone's user types a linking code; returns the new device JID
    /// (errors: see `linking::code::enter_pair_code`).
    pub async fn enter_pair_code(&self, phone: &str, code: &str) -> Result<String, SimError> {
        let device = code::enter_pair_code(self, phone, code).await?;
        Ok(device.to_string())
    }

    /// Injects a fault into a linked device's connection. `Logout` also
    /// unlinks the device, connected or not.
    pub fn fault(&self, jid: &str, kind: FaultKind) -> Result<(), SimError> {
        let device = Jid::parse(jid).map_err(|_| SimError::UnknownDevice(jid.to_owned()))?;
        faults::fault(self, &device, kind)
    }

    /// `POST /sim/phones/{phone}/messages`: the phone sends `text` to `to`
    /// (a phone number or JID), optionally replying to message `reply_to`.
    pub fn phone_send(
        &self,
        phone: &str,
        to: &str,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<SentByPhone, SimError> {
        send::phone_send(self, phone, to, text, reply_to)
    }

    /// `POST /sim/phones/{phone}/read`: the phone reads received messages;
    /// each sender device gets a read receipt.
    pub fn phone_read(&self, phone: &str, ids: &[String]) -> Result<usize, SimError> {
        send::phone_read(self, phone, ids)
    }

    /// `POST /sim/phones/{phone}/reinstall`: a new Signal identity for the
    /// phone (contacts see an identity change).
    pub fn reinstall_phone(&self, phone: &str) -> Result<(), SimError> {
        admin::reinstall_phone(self, phone)
    }

    /// `POST /sim/phones/{phone}/clear-chats`: the phone forgets the
    /// messages it received (a companion's request to upload one's file
    /// again finds nothing).
    pub fn phone_clear_chats(&self, phone: &str) -> Result<(), SimError> {
        admin::clear_chats(self, phone)
    }

    /// `GET /sim/phones/{phone}/messages`: texts the phone received.
    pub fn phone_messages(&self, phone: &str) -> Result<Vec<PhoneMessage>, SimError> {
        admin::phone_messages(self, phone)
    }

    /// `GET /sim/phones/{phone}/receipts`: receipts for its sent texts.
    pub fn phone_receipts(&self, phone: &str) -> Result<Vec<PhoneReceipt>, SimError> {
        admin::phone_receipts(self, phone)
    }

    /// `POST /sim/groups`: phone `creator` creates a group with `members`
    /// (phone numbers or JIDs), addressed by `addressing` (`pn`, `lid`,
    /// or the creator's own namespace when `None`).
    pub fn create_group(
        &self,
        creator: &str,
        subject: &str,
        members: &[String],
        addressing: Option<&str>,
    ) -> Result<GroupSummary, SimError> {
        groups::create_group(self, creator, subject, members, addressing)
    }

    /// `GET /sim/groups/{group}`.
    pub fn group(&self, group: &str) -> Result<GroupSummary, SimError> {
        groups::group_summary(self, group)
    }

    /// `POST /sim/groups/{group}/participants`: member `by` adds and
    /// removes members.
    pub fn change_group_participants(
        &self,
        group: &str,
        by: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<GroupSummary, SimError> {
        groups::change_participants(self, group, by, add, remove)
    }

    /// `POST /sim/groups/{group}/subject`: member `by` renames the group.
    pub fn rename_group(
        &self,
        group: &str,
        by: &str,
        subject: &str,
    ) -> Result<GroupSummary, SimError> {
        groups::rename(self, group, by, subject)
    }

    /// `POST /sim/groups/{group}/settings`: admin `by` locks the group's
    /// info (only admins edit it) or unlocks it.
    pub fn lock_group(
        &self,
        group: &str,
        by: &str,
        locked: bool,
    ) -> Result<GroupSummary, SimError> {
        groups::lock(self, group, by, locked)
    }

    /// How many one-time prekeys the server holds for a companion.
    pub fn prekeys_left(&self, device_jid: &str) -> Result<usize, SimError> {
        self.read_device(device_jid, |d| d.prekeys.len())
    }

    /// The id of the signed prekey the server holds for a companion.
    pub fn signed_prekey_id(&self, device_jid: &str) -> Result<u32, SimError> {
        self.read_device(device_jid, |d| d.signed_prekey.id)
    }

    /// How many stanzas the server holds for a companion.
    pub fn queued(&self, device_jid: &str) -> Result<usize, SimError> {
        self.read_device(device_jid, |d| d.queue.len())
    }

    /// Logins so far, and the most connections one device ever had
    /// logged in at once.
    pub fn logins(&self) -> LoginReport {
        self.lock().logins.report()
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::config::SimConfig;
    use crate::sim::fixtures::{link_directly, registration, state};
    use crate::sim::state::{FaultKind, SimState};
    use crate::types::ManualClock;

    #[test]
    fn timestamps_come_from_the_configured_clock() {
        let clock = ManualClock::at(1_000);
        let config = SimConfig {
            clock: clock.clone(),
            ..SimConfig::default()
        };
        let s = SimState::new(&config, [0; 32]);
        let alice = s.create_phone(None).unwrap();
        let bob = s.create_phone(None).unwrap();
        clock.advance(5);
        let sent = s.phone_send(&alice, &bob, "hi", None).unwrap();
        assert_eq!(sent.timestamp, 1_005);
        assert_eq!(s.phone_messages(&bob).unwrap()[0].timestamp, 1_005);
        assert_eq!(s.phone_receipts(&alice).unwrap()[0].timestamp, 1_005);
    }

    #[test]
    fn device_jids_round_trip_and_reject_garbage() {
        let s = state();
        let phone = s.create_phone(Some("123456".into())).unwrap();
        let id = link_directly(&s, &phone, registration([1; 32])).unwrap();
        let jid = &s.devices(&phone).unwrap()[0].jid;
        assert_eq!(jid, "123456:1@s.whatsapp.net");
        assert_eq!(s.queued(jid), Ok(0));
        assert_eq!(id, 1);
        for bad in [
            "123456@s.whatsapp.net",
            "123456:0@s.whatsapp.net",
            "abc:1@s.whatsapp.net",
            "123456:1@lid",
            "123456:x@s.whatsapp.net",
            "",
        ] {
            assert_eq!(
                s.queued(bad).unwrap_err().code(),
                "unknown_device",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unknown_phone_and_device_are_reported() {
        let s = state();
        assert_eq!(s.devices("999999").unwrap_err().code(), "unknown_phone");
        assert_eq!(
            s.fault("999999:1@s.whatsapp.net", FaultKind::Drop)
                .unwrap_err()
                .code(),
            "unknown_device"
        );
    }
}
