//! The simulated network's shared state: phones (accounts), their linked
//! companion devices, pairings waiting for a scan, and which connection
//! currently speaks for which device.
//!
//! One `std::sync::Mutex` guards it all; it is never held across an
//! `.await`. Connections are reached through small per-connection control
//! channels, so the state never touches a socket itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::adv::{issue_device_identity, sign_key_index_list, IssuedIdentity};
use super::code_link::CodeHello;
use super::key_share::{AppStateKey, KeyShareOrder};
use super::pair_code::{self, CompanionHelloRequest, PairCodeLinked};
use super::qr::parse_qr;
use super::stanza;
use super::{SimConfig, SimError};
use crate::crypto::KeyPair;
use crate::wire::Node;

mod messaging;

pub use messaging::{PhoneMessage, PhoneReceipt, SentByPhone};

/// The server's JID, `from` of everything the server itself says.
pub const SERVER_JID: &str = "s.whatsapp.net";
/// Most one-time prekeys kept per device; older ones are dropped first.
const MAX_STORED_PREKEYS: usize = 2000;

/// A fault the admin API can inject into a device's live connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Close the socket without a word.
    Drop,
    /// `<stream:error><conflict type="replaced"/></stream:error>`, close.
    Conflict,
    /// Unlink the device, `<stream:error code="401"><conflict
    /// type="device_removed"/></stream:error>`, close. Permanent.
    Logout,
    /// Stop answering (socket stays open) until the client gives up.
    Silence,
}

/// A linked device as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub jid: String,
    pub connected: bool,
}

/// A signed prekey as registered or uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPreKey {
    pub id: u32,
    pub public: [u8; 32],
    pub signature: [u8; 64],
}

/// What a companion registered in its pairing `ClientPayload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The Noise static key of the registering connection.
    pub noise_key: [u8; 32],
    pub identity_key: [u8; 32],
    pub registration_id: u32,
    pub signed_prekey: SignedPreKey,
}

/// A linked companion device.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    pub noise_key: [u8; 32],
    pub identity_key: [u8; 32],
    pub registration_id: u32,
    pub signed_prekey: SignedPreKey,
    pub key_index: u32,
    /// One-time prekeys uploaded and not yet handed out: (id, public).
    pub prekeys: Vec<(u32, [u8; 32])>,
    /// The phone has not yet sent this companion the app-state key share
    /// it sends every newly linked device.
    pub key_share_pending: bool,
    /// Stanzas for this device the server holds until it acknowledges
    /// them (its offline queue), oldest first.
    pub queue: std::collections::VecDeque<messaging::Queued>,
}

/// A simulated phone: the primary device of an account.
struct Phone {
    lid_user: String,
    /// Account signing key (ADV): signs companion device identities.
    account: KeyPair,
    /// The phone's own Signal identity (device 0): its public half is the
    /// `primary_identity_pub` of linking codes.
    identity: KeyPair,
    /// Signal registration id of the phone's own device.
    registration_id: u32,
    /// The account's app-state sync key, shared with every companion.
    app_state_key: AppStateKey,
    raw_id: u32,
    next_device: u16,
    devices: BTreeMap<u16, Device>,
    /// When the set of companions last changed: the `ts` of the phone's
    /// signed key index list.
    devices_changed_at: u64,
    /// The phone as a Signal participant (prekeys, sessions, what it
    /// received): see `state/messaging.rs`.
    signal: messaging::PhoneSignal,
}

impl Phone {
    /// Removes a companion; true when it existed.
    fn remove_device(&mut self, id: u16) -> bool {
        let removed = self.devices.remove(&id).is_some();
        if removed {
            self.devices_changed_at = unix_now();
        }
        removed
    }
}

/// A phone's device list as device-list (usync) queries report it.
pub(crate) struct DeviceList {
    /// The account's LID user.
    pub lid_user: String,
    /// (device id, key index), device 0 first.
    pub devices: Vec<(u16, u32)>,
    /// `ts` and content of `<key-index-list>`; `None` without companions.
    pub key_index_list: Option<(u64, Vec<u8>)>,
}

/// Orders a connection task obeys; sent by admin operations and by other
/// connections.
pub(crate) enum Control {
    Fault(FaultKind),
    /// Another connection logged in as the same device.
    Replaced,
    /// The device was unlinked by another device (`remove-companion-device`).
    Unlinked,
    /// A phone scanned this connection's QR: send `<pair-success>`, await
    /// the companion's signature, report on `reply`.
    PairSuccess(Box<PendingLink>),
    /// A phone typed a code for this connection's linking-code request:
    /// send the `primary_hello`, await `companion_finish`.
    PairCodeHello(Box<CodeHello>),
}

/// Where the admin call that started a link learns its outcome.
pub(crate) type LinkReply = oneshot::Sender<Result<String, SimError>>;

/// A scan in flight: the `<pair-success>` to deliver and what to register
/// when the companion signs it.
pub(crate) struct PendingLink {
    pub phone: String,
    pub device_id: u16,
    pub iq_id: String,
    pub node: Node,
    pub issued: IssuedIdentity,
    pub reply: LinkReply,
}

struct Pending {
    control: mpsc::Sender<Control>,
    registration: Registration,
    /// Each ref with the instant it stops being scannable.
    refs: Vec<(String, Instant)>,
    scanning: bool,
}

/// A companion's `companion_hello`, waiting for its phone to type the code.
struct CodeRequest {
    conn_id: u64,
    control: mpsc::Sender<Control>,
    request: CompanionHelloRequest,
    link_ref: Vec<u8>,
    /// The server honours the code until then.
    until: Instant,
    /// A phone is typing it right now (one attempt at a time).
    entering: bool,
}

struct Live {
    conn_id: u64,
    control: mpsc::Sender<Control>,
    /// Where stanzas for the device go while it is online; set once the
    /// connection said `active` (and got its offline queue).
    deliver: Option<mpsc::UnboundedSender<Node>>,
}

#[derive(Default)]
struct Inner {
    phones: HashMap<String, Phone>,
    /// Pairings by the id of the connection that registered them.
    pending: HashMap<u64, Pending>,
    /// Ref -> connection id of the pairing that owns it.
    refs: HashMap<String, u64>,
    /// Linking-code requests by phone number (the newest one wins).
    code_requests: HashMap<String, CodeRequest>,
    /// (phone, device id) -> the connection logged in as that device.
    live: HashMap<(String, u16), Live>,
    /// LID user -> phone number.
    lids: HashMap<String, String>,
    /// Who sent recent messages, so receipts find their way back.
    senders: messaging::SenderIndex,
    /// Phone -> the devices that asked for its device list (usync): they
    /// are told when it changes.
    device_watchers: HashMap<String, std::collections::HashSet<messaging::Address>>,
}

/// Why a login is refused (`<failure reason=..>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginRefusal {
    /// Unknown or removed device, or a Noise key that is not the device's.
    Unauthorized,
}

/// What a successful login tells the connection.
#[derive(Debug, Clone)]
pub(crate) struct LoginGrant {
    pub lid: String,
}

/// Timing knobs copied out of [`SimConfig`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub qr_refs: usize,
    pub first_ref_ttl: Duration,
    pub next_ref_ttl: Duration,
    pub pair_timeout: Duration,
    pub handshake_timeout: Duration,
    pub code_ttl: Duration,
}

/// Everything the simulator knows, shared by the admin API and every
/// connection task.
pub struct SimState {
    inner: Mutex<Inner>,
    root_public_key: [u8; 32],
    pub(crate) timing: Timing,
    next_conn_id: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl SimState {
    /// Empty state for a simulator whose certificate root is `root_public_key`.
    pub fn new(config: &SimConfig, root_public_key: [u8; 32]) -> Self {
        SimState {
            inner: Mutex::new(Inner::default()),
            root_public_key,
            timing: Timing {
                qr_refs: config.qr_refs.max(1),
                first_ref_ttl: config.first_ref_ttl,
                next_ref_ttl: config.next_ref_ttl,
                pair_timeout: config.pair_timeout,
                handshake_timeout: config.handshake_timeout,
                code_ttl: config.pair_code_ttl,
            },
            next_conn_id: AtomicU64::new(1),
            shutdown: watch::channel(false).0,
        }
    }

    /// The certificate root clients must trust.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.root_public_key
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the whole simulator down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a simulated phone. `phone` must be digits (6 to 15); a
    /// random unused number is chosen when it is `None`.
    pub fn create_phone(&self, phone: Option<String>) -> Result<String, SimError> {
        let mut inner = self.lock();
        let number = match phone {
            Some(number) => {
                validate_phone(&number)?;
                if inner.phones.contains_key(&number) {
                    return Err(SimError::PhoneExists(number));
                }
                number
            }
            None => loop {
                // 99x is an unassigned country code: never a real number.
                let candidate = format!("990{:09}", rand::thread_rng().gen_range(0..1_000_000_000));
                if !inner.phones.contains_key(&candidate) {
                    break candidate;
                }
            },
        };
        let mut rng = rand::thread_rng();
        let raw_id = rng.gen_range(1..u32::MAX);
        let mut phone = Phone {
            lid_user: format!(
                "{}",
                rng.gen_range(100_000_000_000_000u64..1_000_000_000_000_000)
            ),
            account: KeyPair::generate(),
            identity: KeyPair::generate(),
            registration_id: crate::signal::registration_id(),
            app_state_key: AppStateKey::generate(raw_id),
            raw_id,
            next_device: 1,
            devices: BTreeMap::new(),
            devices_changed_at: unix_now(),
            signal: messaging::PhoneSignal::new(),
        };
        phone.signal.sign_with(&phone.identity);
        inner.lids.insert(phone.lid_user.clone(), number.clone());
        inner.phones.insert(number.clone(), phone);
        Ok(number)
    }

    /// The phone's linked devices and whether each is connected.
    pub fn devices(&self, phone: &str) -> Result<Vec<DeviceInfo>, SimError> {
        let inner = self.lock();
        let entry = inner
            .phones
            .get(phone)
            .ok_or_else(|| SimError::UnknownPhone(phone.to_owned()))?;
        Ok(entry
            .devices
            .keys()
            .map(|&id| DeviceInfo {
                jid: device_jid(phone, id),
                connected: inner.live.contains_key(&(phone.to_owned(), id)),
            })
            .collect())
    }

    /// The phone scans a companion's QR: the companion's connection gets
    /// `<pair-success>`, and this returns the new device JID once the
    /// companion has signed its identity and the device is registered.
    pub async fn scan(&self, phone: &str, qr: &str) -> Result<String, SimError> {
        let scanned = parse_qr(qr)?;
        let (reply, answer) = oneshot::channel();
        let (conn_id, control, link) = {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let account = inner
                .phones
                .get_mut(phone)
                .ok_or_else(|| SimError::UnknownPhone(phone.to_owned()))?;
            let unknown_ref = || SimError::UnknownRef(scanned.pairing_ref.clone());
            let conn_id = *inner
                .refs
                .get(&scanned.pairing_ref)
                .ok_or_else(unknown_ref)?;
            let pending = inner.pending.get_mut(&conn_id).ok_or_else(unknown_ref)?;
            let live_until = pending
                .refs
                .iter()
                .find(|(r, _)| *r == scanned.pairing_ref)
                .map(|(_, until)| *until)
                .ok_or_else(unknown_ref)?;
            if Instant::now() >= live_until {
                return Err(unknown_ref());
            }
            if pending.registration.noise_key != scanned.noise_key {
                return Err(SimError::QrMismatch("noise"));
            }
            if pending.registration.identity_key != scanned.identity_key {
                return Err(SimError::QrMismatch("identity"));
            }
            if pending.scanning {
                return Err(SimError::PairingInProgress);
            }
            let device_id = allocate_device(account)?;
            let link = new_link(
                account,
                phone,
                device_id,
                &scanned.identity_key,
                &scanned.adv_secret,
                reply,
            );
            pending.scanning = true;
            (conn_id, pending.control.clone(), link)
        };
        let result = async {
            control
                .send(Control::PairSuccess(Box::new(link)))
                .await
                .map_err(|_| SimError::ConnectionClosed)?;
            // The connection answers by its own deadline; this is a guard.
            let guard = self.timing.pair_timeout.saturating_mul(2) + Duration::from_secs(1);
            match tokio::time::timeout(guard, answer).await {
                Err(_) => Err(SimError::Timeout),
                Ok(Err(_)) => Err(SimError::ConnectionClosed),
                Ok(Ok(outcome)) => outcome,
            }
        }
        .await;
        if result.is_err() {
            self.end_scan(conn_id);
        }
        result
    }

    /// The phone's user types a linking code: the companion that asked for
    /// a code for this phone gets the phone's `primary_hello`; once its
    /// `companion_finish` opens with that code, the device is linked
    /// exactly as by a QR scan, and this returns its JID.
    ///
    /// Errors: `unknown_phone`; `bad_request` for what cannot be a code;
    /// `no_code_request` when no companion waits for a code for this phone
    /// (or its code expired); `pairing_in_progress` while another entry
    /// runs; `wrong_code` when the companion's bundle does not open (the
    /// companion is told nothing, as by a real phone, and the code may be
    /// typed again); `timeout` when the companion does not answer.
    pub async fn enter_pair_code(&self, phone: &str, code: &str) -> Result<String, SimError> {
        let (request, link_ref, identity, control, conn_id) = {
            let mut inner = self.lock();
            let identity = inner
                .phones
                .get(phone)
                .ok_or_else(|| SimError::UnknownPhone(phone.to_owned()))?
                .identity
                .clone();
            pair_code::check_code(code).map_err(|e| SimError::BadRequest(e.to_string()))?;
            let waiting = inner
                .code_requests
                .get_mut(phone)
                .filter(|r| r.until > Instant::now())
                .ok_or_else(|| SimError::NoCodeRequest(phone.to_owned()))?;
            if waiting.entering {
                return Err(SimError::PairingInProgress);
            }
            waiting.entering = true;
            (
                waiting.request.clone(),
                waiting.link_ref.clone(),
                identity,
                waiting.control.clone(),
                waiting.conn_id,
            )
        };
        let code = code.to_owned();
        let result = async {
            // Two PBKDF2 runs: off the async workers.
            let (pending, notification) = tokio::task::spawn_blocking(move || {
                pair_code::primary_hello(
                    &code,
                    &request,
                    &identity,
                    &link_ref,
                    &stanza::new_iq_id(),
                )
            })
            .await
            .map_err(|e| SimError::BadRequest(format!("key derivation failed: {e}")))?
            .map_err(|e| SimError::BadRequest(e.to_string()))?;
            let (reply, answer) = oneshot::channel();
            let hello = CodeHello {
                pending,
                notification,
                reply,
            };
            control
                .send(Control::PairCodeHello(Box::new(hello)))
                .await
                .map_err(|_| SimError::ConnectionClosed)?;
            // The connection answers by its own deadlines (finish, then
            // the pair-device-sign); this is a guard.
            let guard = self.timing.pair_timeout.saturating_mul(3) + Duration::from_secs(1);
            match tokio::time::timeout(guard, answer).await {
                Err(_) => Err(SimError::Timeout),
                Ok(Err(_)) => Err(SimError::ConnectionClosed),
                Ok(Ok(outcome)) => outcome,
            }
        }
        .await;
        if let Some(waiting) = self.lock().code_requests.get_mut(phone) {
            if waiting.conn_id == conn_id {
                waiting.entering = false;
            }
        }
        result
    }

    /// Injects a fault into a linked device's connection. `Logout` also
    /// unlinks the device, connected or not.
    pub fn fault(&self, jid: &str, kind: FaultKind) -> Result<(), SimError> {
        let (phone, id) =
            parse_device_jid(jid).ok_or_else(|| SimError::UnknownDevice(jid.to_owned()))?;
        let mut inner = self.lock();
        let linked = inner
            .phones
            .get(&phone)
            .is_some_and(|p| p.devices.contains_key(&id));
        if !linked {
            return Err(SimError::UnknownDevice(jid.to_owned()));
        }
        let key = (phone.clone(), id);
        if kind == FaultKind::Logout {
            if let Some(p) = inner.phones.get_mut(&phone) {
                p.remove_device(id);
            }
            inner.announce_devices(&phone, "remove", id);
            if let Some(live) = inner.live.remove(&key) {
                let _ = live.control.try_send(Control::Fault(kind));
            }
            return Ok(());
        }
        let live = inner
            .live
            .get(&key)
            .ok_or_else(|| SimError::NotConnected(jid.to_owned()))?;
        live.control
            .try_send(Control::Fault(kind))
            .map_err(|_| SimError::NotConnected(jid.to_owned()))
    }

    // ---- used by connection tasks ----

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn subscribe_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn trigger_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Records a companion waiting to be scanned; returns its refs and the
    /// instant the whole pairing expires.
    pub(crate) fn register_pending(
        &self,
        conn_id: u64,
        control: mpsc::Sender<Control>,
        registration: Registration,
    ) -> (Vec<String>, Instant) {
        let t = self.timing;
        let start = Instant::now();
        let mut refs = Vec::with_capacity(t.qr_refs);
        let mut until = start + t.first_ref_ttl;
        let mut inner = self.lock();
        for _ in 0..t.qr_refs {
            let r = loop {
                let candidate = stanza::new_pairing_ref();
                if !inner.refs.contains_key(&candidate) {
                    break candidate;
                }
            };
            inner.refs.insert(r.clone(), conn_id);
            refs.push((r, until));
            until += t.next_ref_ttl;
        }
        let expires = refs.last().map_or(start, |(_, u)| *u);
        let names = refs.iter().map(|(r, _)| r.clone()).collect();
        inner.pending.insert(
            conn_id,
            Pending {
                control,
                registration,
                refs,
                scanning: false,
            },
        );
        (names, expires)
    }

    /// A companion asked for a linking code for `request.phone`; a newer
    /// request for the same phone replaces an older one, and a connection
    /// keeps one request at a time. Returns the pairing ref and the end of
    /// the code's validity.
    pub(crate) fn register_code_request(
        &self,
        conn_id: u64,
        control: mpsc::Sender<Control>,
        request: CompanionHelloRequest,
    ) -> Result<(Vec<u8>, Instant), SimError> {
        let mut inner = self.lock();
        if !inner.phones.contains_key(&request.phone) {
            return Err(SimError::UnknownPhone(request.phone));
        }
        inner.code_requests.retain(|_, r| r.conn_id != conn_id);
        let link_ref = pair_code::new_link_ref();
        let until = Instant::now() + self.timing.code_ttl;
        inner.code_requests.insert(
            request.phone.clone(),
            CodeRequest {
                conn_id,
                control,
                request,
                link_ref: link_ref.clone(),
                until,
                entering: false,
            },
        );
        Ok((link_ref, until))
    }

    /// The phone opened the companion's key bundle: the same link as a QR
    /// scan, with the ADV secret the code flow derived. On error the
    /// reply is handed back so the caller can report it.
    pub(crate) fn start_code_link(
        &self,
        conn_id: u64,
        linked: &PairCodeLinked,
        reply: LinkReply,
    ) -> Result<Box<PendingLink>, (SimError, LinkReply)> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(pending) = inner.pending.get_mut(&conn_id) else {
            return Err((SimError::ConnectionClosed, reply));
        };
        if pending.registration.noise_key != linked.companion_noise_pub {
            return Err((
                SimError::PairingRejected("noise key differs from the registration".into()),
                reply,
            ));
        }
        if pending.registration.identity_key != linked.companion_identity_pub {
            return Err((
                SimError::PairingRejected("identity key differs from the registration".into()),
                reply,
            ));
        }
        if pending.scanning {
            return Err((SimError::PairingInProgress, reply));
        }
        let Some(account) = inner.phones.get_mut(&linked.phone) else {
            return Err((SimError::UnknownPhone(linked.phone.clone()), reply));
        };
        let device_id = match allocate_device(account) {
            Ok(id) => id,
            Err(e) => return Err((e, reply)),
        };
        pending.scanning = true;
        let link = new_link(
            account,
            &linked.phone,
            device_id,
            &linked.companion_identity_pub,
            &linked.adv_secret,
            reply,
        );
        Ok(Box::new(link))
    }

    /// A scan of this connection's pairing is over without a link.
    pub(crate) fn end_scan(&self, conn_id: u64) {
        if let Some(p) = self.lock().pending.get_mut(&conn_id) {
            p.scanning = false;
        }
    }

    /// The companion signed: registers the device and retires the pairing.
    pub(crate) fn complete_link(
        &self,
        conn_id: u64,
        link: &PendingLink,
    ) -> Result<String, SimError> {
        let mut inner = self.lock();
        let pending = inner
            .pending
            .remove(&conn_id)
            .ok_or(SimError::ConnectionClosed)?;
        for (r, _) in &pending.refs {
            inner.refs.remove(r);
        }
        inner.code_requests.retain(|_, r| r.conn_id != conn_id);
        let phone = inner
            .phones
            .get_mut(&link.phone)
            .ok_or_else(|| SimError::UnknownPhone(link.phone.clone()))?;
        let reg = pending.registration;
        phone.devices.insert(
            link.device_id,
            Device {
                noise_key: reg.noise_key,
                identity_key: reg.identity_key,
                registration_id: reg.registration_id,
                signed_prekey: reg.signed_prekey,
                key_index: link.issued.key_index,
                prekeys: Vec::new(),
                key_share_pending: true,
                queue: Default::default(),
            },
        );
        phone.devices_changed_at = unix_now();
        inner.announce_devices(&link.phone, "add", link.device_id);
        Ok(device_jid(&link.phone, link.device_id))
    }

    /// Validates a login and makes `conn_id` the device's live connection,
    /// telling any previous one it was replaced.
    pub(crate) fn login(
        &self,
        conn_id: u64,
        control: mpsc::Sender<Control>,
        username: u64,
        device: u32,
        noise_key: &[u8; 32],
    ) -> Result<LoginGrant, LoginRefusal> {
        let phone = username.to_string();
        let id = u16::try_from(device).map_err(|_| LoginRefusal::Unauthorized)?;
        let mut inner = self.lock();
        let account = inner.phones.get(&phone).ok_or(LoginRefusal::Unauthorized)?;
        let known = account.devices.get(&id).ok_or(LoginRefusal::Unauthorized)?;
        if known.noise_key != *noise_key {
            return Err(LoginRefusal::Unauthorized);
        }
        let lid = lid_device_jid(&account.lid_user, id);
        let live = Live {
            conn_id,
            control,
            deliver: None,
        };
        if let Some(old) = inner.live.insert((phone, id), live) {
            let _ = old.control.try_send(Control::Replaced);
        }
        Ok(LoginGrant { lid })
    }

    /// Forgets everything tied to a connection that has ended.
    pub(crate) fn forget_connection(&self, conn_id: u64) {
        let mut inner = self.lock();
        if let Some(pending) = inner.pending.remove(&conn_id) {
            for (r, _) in &pending.refs {
                inner.refs.remove(r);
            }
        }
        inner.live.retain(|_, live| live.conn_id != conn_id);
        inner.code_requests.retain(|_, r| r.conn_id != conn_id);
    }

    /// The app-state key share the phone still owes a companion, once:
    /// the phone sends it right after linking and the server queues it
    /// until the companion comes online.
    pub(crate) fn take_key_share(&self, phone: &str, id: u16) -> Option<KeyShareOrder> {
        let mut inner = self.lock();
        let account = inner.phones.get_mut(phone)?;
        let device = account.devices.get_mut(&id)?;
        if !std::mem::take(&mut device.key_share_pending) {
            return None;
        }
        Some(KeyShareOrder {
            phone: phone.to_string(),
            phone_identity: account.identity.clone(),
            phone_registration_id: account.registration_id,
            companion: crate::signal::PreKeyBundle {
                registration_id: device.registration_id,
                identity_key: device.identity_key,
                signed_prekey_id: device.signed_prekey.id,
                signed_prekey: device.signed_prekey.public,
                signed_prekey_signature: device.signed_prekey.signature,
                one_time_prekey: None,
            },
            key: account.app_state_key.clone(),
        })
    }

    /// The phone's `critical_block` patch setting its push name.
    pub(crate) fn push_name_patch(&self, phone: &str) -> Option<Vec<u8>> {
        let key = self.lock().phones.get(phone)?.app_state_key.clone();
        // Encrypting outside the lock.
        Some(super::app_state::push_name_patch(
            &key,
            &format!("Sim {phone}"),
        ))
    }

    /// Whether the device still exists (it may be unlinked mid-session).
    pub(crate) fn is_linked(&self, phone: &str, id: u16) -> bool {
        self.lock()
            .phones
            .get(phone)
            .is_some_and(|p| p.devices.contains_key(&id))
    }

    /// Unlinks `target` of `phone`; its connection (unless it is `by_conn`)
    /// is told it was removed. Returns false when there was no such device.
    pub(crate) fn unlink(&self, phone: &str, target: u16, by_conn: u64) -> bool {
        let mut inner = self.lock();
        let removed = inner
            .phones
            .get_mut(phone)
            .is_some_and(|p| p.remove_device(target));
        if let Some(live) = inner.live.remove(&(phone.to_owned(), target)) {
            if live.conn_id != by_conn {
                let _ = live.control.try_send(Control::Unlinked);
            }
        }
        if removed {
            inner.announce_devices(phone, "remove", target);
        }
        removed
    }

    /// Number of one-time prekeys the server holds for the device.
    pub(crate) fn prekey_count(&self, phone: &str, id: u16) -> usize {
        self.lock()
            .phones
            .get(phone)
            .and_then(|p| p.devices.get(&id))
            .map_or(0, |d| d.prekeys.len())
    }

    /// Stores an upload; `Err` when the identity is not the device's.
    pub(crate) fn store_prekeys(
        &self,
        phone: &str,
        id: u16,
        identity: Option<[u8; 32]>,
        signed: Option<SignedPreKey>,
        keys: Vec<(u32, [u8; 32])>,
    ) -> Result<(), &'static str> {
        let mut inner = self.lock();
        let device = inner
            .phones
            .get_mut(phone)
            .and_then(|p| p.devices.get_mut(&id))
            .ok_or("device not linked")?;
        if identity.is_some_and(|k| k != device.identity_key) {
            return Err("identity key differs from the registered one");
        }
        if let Some(signed) = signed {
            device.signed_prekey = signed;
        }
        device
            .prekeys
            .retain(|(kid, _)| !keys.iter().any(|(n, _)| n == kid));
        device.prekeys.extend(keys);
        let excess = device.prekeys.len().saturating_sub(MAX_STORED_PREKEYS);
        device.prekeys.drain(..excess);
        Ok(())
    }

    /// The device list of the account whose phone number or LID user is
    /// `user`, for device-list queries. `None` for unknown users.
    pub(crate) fn device_list(&self, user: &str) -> Option<DeviceList> {
        let inner = self.lock();
        let p = match inner.phones.get(user) {
            Some(p) => p,
            None => inner.phones.get(inner.lids.get(user)?)?,
        };
        let mut devices = vec![(0u16, 0u32)];
        devices.extend(p.devices.iter().map(|(&id, d)| (id, d.key_index)));
        // Real servers send the list whenever the account has companions;
        // clients ignore a companion list that comes without it.
        let key_index_list = (!p.devices.is_empty()).then(|| {
            let valid: Vec<u32> = p.devices.values().map(|d| d.key_index).collect();
            let current = u32::from(p.next_device.saturating_sub(1));
            let ts = p.devices_changed_at;
            (
                ts,
                sign_key_index_list(&p.account, p.raw_id, ts, current, valid),
            )
        });
        Some(DeviceList {
            lid_user: p.lid_user.clone(),
            devices,
            key_index_list,
        })
    }

    #[cfg(test)]
    pub(crate) fn device(&self, phone: &str, id: u16) -> Option<Device> {
        self.lock().phones.get(phone)?.devices.get(&id).cloned()
    }

    /// Links a device directly, skipping the QR dance (tests of the
    /// session logic).
    #[cfg(test)]
    pub(crate) fn link_directly(&self, phone: &str, reg: Registration) -> Option<u16> {
        let mut inner = self.lock();
        let p = inner.phones.get_mut(phone)?;
        let id = p.next_device;
        p.next_device += 1;
        p.devices.insert(
            id,
            Device {
                noise_key: reg.noise_key,
                identity_key: reg.identity_key,
                registration_id: reg.registration_id,
                signed_prekey: reg.signed_prekey,
                key_index: u32::from(id),
                prekeys: Vec::new(),
                key_share_pending: true,
                queue: Default::default(),
            },
        );
        Some(id)
    }
}

/// The next device id of an account.
fn allocate_device(account: &mut Phone) -> Result<u16, SimError> {
    let device_id = account.next_device;
    account.next_device = device_id
        .checked_add(1)
        .ok_or_else(|| SimError::BadRequest("phone has no device ids left".into()))?;
    Ok(device_id)
}

/// What a phone's link delivers, whether it came from a QR scan or a
/// linking code: the ADV identity signed by the account and MACed with
/// `adv_secret`, in a `<pair-success>`, and what to register once the
/// companion signs it.
fn new_link(
    account: &Phone,
    phone: &str,
    device_id: u16,
    identity_key: &[u8; 32],
    adv_secret: &[u8; 32],
    reply: LinkReply,
) -> PendingLink {
    let issued = issue_device_identity(
        &account.account,
        identity_key,
        adv_secret,
        account.raw_id,
        u32::from(device_id),
        unix_now(),
    );
    let iq_id = stanza::new_iq_id();
    let node = stanza::pair_success(
        &iq_id,
        &issued.hmac_container,
        &device_jid(phone, device_id),
        &lid_device_jid(&account.lid_user, device_id),
    );
    PendingLink {
        phone: phone.to_owned(),
        device_id,
        iq_id,
        node,
        issued,
        reply,
    }
}

/// `PHONE:N@s.whatsapp.net`.
pub fn device_jid(phone: &str, id: u16) -> String {
    format!("{phone}:{id}@{SERVER_JID}")
}

/// `LIDUSER:N@lid`.
fn lid_device_jid(lid_user: &str, id: u16) -> String {
    format!("{lid_user}:{id}@lid")
}

/// Splits `PHONE:N@s.whatsapp.net` (an agent part `PHONE.A:N` is not used
/// by companions and is refused).
pub fn parse_device_jid(jid: &str) -> Option<(String, u16)> {
    let (user, server) = jid.split_once('@')?;
    if server != SERVER_JID {
        return None;
    }
    let (phone, device) = user.split_once(':')?;
    if phone.is_empty() || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: u16 = device.parse().ok()?;
    (id != 0).then(|| (phone.to_owned(), id))
}

fn validate_phone(number: &str) -> Result<(), SimError> {
    let digits = number.bytes().all(|b| b.is_ascii_digit());
    if !digits || !(6..=15).contains(&number.len()) || number.starts_with('0') {
        return Err(SimError::BadRequest(format!(
            "phone must be 6 to 15 digits without a leading 0, got {number:?}"
        )));
    }
    Ok(())
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SimState {
        SimState::new(&SimConfig::default(), [0; 32])
    }

    #[test]
    fn phones_are_digits_and_unique() {
        let s = state();
        assert_eq!(
            s.create_phone(Some("15551234567".into())).unwrap(),
            "15551234567"
        );
        assert_eq!(
            s.create_phone(Some("15551234567".into()))
                .unwrap_err()
                .code(),
            "phone_exists"
        );
        for bad in [
            "",
            "12ab5678",
            "+15551234567",
            "123",
            "0123456789",
            "1234567890123456",
        ] {
            assert_eq!(
                s.create_phone(Some(bad.into())).unwrap_err().code(),
                "bad_request",
                "{bad:?}"
            );
        }
        let a = s.create_phone(None).unwrap();
        let b = s.create_phone(None).unwrap();
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn device_jids_round_trip_and_reject_garbage() {
        assert_eq!(device_jid("123456", 3), "123456:3@s.whatsapp.net");
        assert_eq!(
            parse_device_jid("123456:3@s.whatsapp.net"),
            Some(("123456".into(), 3))
        );
        for bad in [
            "123456@s.whatsapp.net",
            "123456:0@s.whatsapp.net",
            "abc:1@s.whatsapp.net",
            "123456:1@lid",
            "123456:x@s.whatsapp.net",
            "",
        ] {
            assert_eq!(parse_device_jid(bad), None, "{bad:?}");
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

    fn registration(noise: [u8; 32]) -> Registration {
        Registration {
            noise_key: noise,
            identity_key: [2; 32],
            registration_id: 7,
            signed_prekey: SignedPreKey {
                id: 1,
                public: [3; 32],
                signature: [4; 64],
            },
        }
    }

    #[tokio::test]
    async fn login_requires_a_linked_device_and_its_noise_key() {
        let s = state();
        let phone = s.create_phone(Some("15550001111".into())).unwrap();
        let id = s.link_directly(&phone, registration([1; 32])).unwrap();
        let user: u64 = phone.parse().unwrap();
        let tx = || mpsc::channel(4).0;
        assert!(s.login(1, tx(), user, u32::from(id), &[9; 32]).is_err());
        assert!(s.login(1, tx(), user, 42, &[1; 32]).is_err());
        assert!(s.login(1, tx(), user + 1, u32::from(id), &[1; 32]).is_err());
        assert!(!s.devices(&phone).unwrap()[0].connected);
        let grant = s.login(1, tx(), user, u32::from(id), &[1; 32]).unwrap();
        assert!(grant.lid.ends_with(&format!(":{id}@lid")));
        assert!(s.devices(&phone).unwrap()[0].connected);
        // A second connection takes over; the first one ending later must
        // not mark the device disconnected.
        s.login(2, tx(), user, u32::from(id), &[1; 32]).unwrap();
        s.forget_connection(1);
        assert!(s.devices(&phone).unwrap()[0].connected);
        s.forget_connection(2);
        assert!(!s.devices(&phone).unwrap()[0].connected);
    }

    #[tokio::test]
    async fn replaced_connection_is_told_so() {
        let s = state();
        let phone = s.create_phone(None).unwrap();
        let id = s.link_directly(&phone, registration([1; 32])).unwrap();
        let user: u64 = phone.parse().unwrap();
        let (tx_old, mut rx_old) = mpsc::channel(4);
        s.login(1, tx_old, user, u32::from(id), &[1; 32]).unwrap();
        let (tx_new, _rx_new) = mpsc::channel(4);
        s.login(2, tx_new, user, u32::from(id), &[1; 32]).unwrap();
        assert!(matches!(rx_old.try_recv(), Ok(Control::Replaced)));
    }

    #[tokio::test]
    async fn logout_fault_unlinks_for_good() {
        let s = state();
        let phone = s.create_phone(None).unwrap();
        let id = s.link_directly(&phone, registration([1; 32])).unwrap();
        let jid = device_jid(&phone, id);
        let user: u64 = phone.parse().unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        s.login(1, tx, user, u32::from(id), &[1; 32]).unwrap();
        s.fault(&jid, FaultKind::Logout).unwrap();
        assert!(matches!(
            rx.try_recv(),
            Ok(Control::Fault(FaultKind::Logout))
        ));
        assert!(s.devices(&phone).unwrap().is_empty());
        let (tx, _rx) = mpsc::channel(4);
        assert!(s.login(3, tx, user, u32::from(id), &[1; 32]).is_err());
        assert_eq!(
            s.fault(&jid, FaultKind::Drop).unwrap_err().code(),
            "unknown_device"
        );
    }

    #[test]
    fn those_who_asked_for_a_device_list_hear_of_its_changes() {
        let s = state();
        let alice = s.create_phone(None).unwrap();
        let bob = s.create_phone(None).unwrap();
        let watcher = s.link_directly(&alice, registration([1; 32])).unwrap();
        let other = s.link_directly(&alice, registration([5; 32])).unwrap();
        let bobs = s.link_directly(&bob, registration([6; 32])).unwrap();
        let second = s.link_directly(&bob, registration([7; 32])).unwrap();
        s.watch_devices(&(alice.clone(), watcher), &[bob.as_str()]);

        assert!(s.unlink(&bob, second, 0));
        // The watcher and Bob's remaining companion are told; Alice's
        // other device never asked.
        assert_eq!(s.queued(&device_jid(&alice, watcher)).unwrap(), 1);
        assert_eq!(s.queued(&device_jid(&bob, bobs)).unwrap(), 1);
        assert_eq!(s.queued(&device_jid(&alice, other)).unwrap(), 0);
        let told = s
            .lock()
            .phones
            .get(&alice)
            .and_then(|p| p.devices.get(&watcher))
            .and_then(|d| d.queue.front().cloned())
            .map(|q| q.node().clone())
            .unwrap();
        assert_eq!(told.get_attr("type"), Some("devices"));
        let removed = told
            .child("remove")
            .and_then(|r| r.child("device"))
            .unwrap();
        assert_eq!(
            removed.get_attr("jid"),
            Some(device_jid(&bob, second).as_str())
        );
    }

    #[test]
    fn faults_other_than_logout_need_a_connection() {
        let s = state();
        let phone = s.create_phone(None).unwrap();
        let id = s.link_directly(&phone, registration([1; 32])).unwrap();
        let err = s
            .fault(&device_jid(&phone, id), FaultKind::Silence)
            .unwrap_err();
        assert_eq!(err.code(), "not_connected");
    }

    #[tokio::test]
    async fn scan_checks_ref_keys_and_expiry() {
        use base64::prelude::{Engine as _, BASE64_STANDARD};
        // A short first ref, so its expiry can be waited out.
        let config = SimConfig {
            first_ref_ttl: Duration::from_millis(30),
            ..SimConfig::default()
        };
        let s = SimState::new(&config, [0; 32]);
        let phone = s.create_phone(None).unwrap();
        let (tx, _rx) = mpsc::channel(4);
        let before = Instant::now();
        let (refs, expires) = s.register_pending(5, tx, registration([1; 32]));
        let after = Instant::now();
        assert_eq!(refs.len(), 6);
        let total = config.first_ref_ttl + config.next_ref_ttl * 5;
        assert!(expires >= before + total && expires <= after + total);
        let qr = |r: &str, noise: [u8; 32]| {
            format!(
                "{r},{},{},{}",
                BASE64_STANDARD.encode(noise),
                BASE64_STANDARD.encode([2u8; 32]),
                BASE64_STANDARD.encode([0u8; 32])
            )
        };
        assert_eq!(
            s.scan(&phone, &qr("2@nope", [1; 32]))
                .await
                .unwrap_err()
                .code(),
            "unknown_ref"
        );
        assert_eq!(
            s.scan(&phone, &qr(&refs[0], [8; 32]))
                .await
                .unwrap_err()
                .code(),
            "qr_mismatch"
        );
        assert_eq!(
            s.scan("123123123", &qr(&refs[0], [1; 32]))
                .await
                .unwrap_err()
                .code(),
            "unknown_phone"
        );
        // Once the first ref's time is up only later refs scan.
        tokio::time::sleep_until(before + config.first_ref_ttl * 2).await;
        assert_eq!(
            s.scan(&phone, &qr(&refs[0], [1; 32]))
                .await
                .unwrap_err()
                .code(),
            "unknown_ref"
        );
        s.forget_connection(5);
        assert_eq!(
            s.scan(&phone, &qr(&refs[1], [1; 32]))
                .await
                .unwrap_err()
                .code(),
            "unknown_ref"
        );
    }

    #[tokio::test]
    async fn prekeys_are_counted_and_bound_to_the_identity() {
        let s = state();
        let phone = s.create_phone(None).unwrap();
        let id = s.link_directly(&phone, registration([1; 32])).unwrap();
        assert_eq!(s.prekey_count(&phone, id), 0);
        let keys: Vec<_> = (1..=30).map(|i| (i, [i as u8; 32])).collect();
        s.store_prekeys(&phone, id, Some([2; 32]), None, keys.clone())
            .unwrap();
        assert_eq!(s.prekey_count(&phone, id), 30);
        // Re-uploading the same ids does not double count.
        s.store_prekeys(&phone, id, None, None, keys).unwrap();
        assert_eq!(s.prekey_count(&phone, id), 30);
        assert!(s
            .store_prekeys(&phone, id, Some([7; 32]), None, vec![])
            .is_err());
        assert_eq!(s.device(&phone, id).unwrap().registration_id, 7);
    }
}
