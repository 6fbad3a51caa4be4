//! End to end against the simulator with a bare-bones companion written
//! here from the protocol (not our client, which must not share the
//! simulator's mistakes): pair by QR, restart, log in, keepalive, prekeys,
//! faults. Runs on the real wire layer (Noise, frames, binary nodes).

use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use prost::Message as _;
use wasp::crypto::{hmac_sha256, xeddsa_verify, KeyPair};
use wasp::proto::client_payload::DevicePairingRegistrationData;
use wasp::proto::{AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac, ClientPayload};
use wasp::sim::{self, FaultKind, SimConfig, SimHandle};
use wasp::types::{Clock as _, DeviceAddress};
use wasp::wire::socket::{client_handshake, ClientHandshake, NoiseSocket};
use wasp::wire::Node;

/// Hang guard for every wait (never a timing assertion).
const GUARD: Duration = Duration::from_secs(20);

/// The companion's plain ws:// socket (the wire layer implements
/// `Transport` for it).
/// tokio-tungstenite's client, not ours: the simulator is checked with an
/// independent WebSocket client.
type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The long-term keys of a companion device.
struct Companion {
    noise: KeyPair,
    identity: KeyPair,
    signed_prekey: KeyPair,
    adv_secret: [u8; 32],
}

impl Companion {
    fn new() -> Self {
        Companion {
            noise: KeyPair::generate(),
            identity: KeyPair::generate(),
            signed_prekey: KeyPair::generate(),
            adv_secret: rand::random(),
        }
    }

    fn registration_payload(&self) -> Vec<u8> {
        let signed = [&[5u8][..], &self.signed_prekey.public].concat();
        ClientPayload {
            passive: Some(false),
            device_pairing_data: Some(DevicePairingRegistrationData {
                e_regid: Some(4242u32.to_be_bytes().to_vec()),
                e_keytype: Some(vec![5]),
                e_ident: Some(self.identity.public.to_vec()),
                e_skey_id: Some(vec![0, 0, 1]),
                e_skey_val: Some(self.signed_prekey.public.to_vec()),
                e_skey_sig: Some(self.identity.sign(&signed).to_vec()),
                build_hash: None,
                device_props: None,
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn login_payload(jid: &str) -> Vec<u8> {
        let device = DeviceAddress::parse(jid).expect("a device jid");
        ClientPayload {
            username: device.user().parse().ok(),
            device: Some(u32::from(device.device())),
            passive: Some(true),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn qr(&self, pairing_ref: &str) -> String {
        format!(
            "{pairing_ref},{},{},{},9",
            BASE64_STANDARD.encode(self.noise.public),
            BASE64_STANDARD.encode(self.identity.public),
            BASE64_STANDARD.encode(self.adv_secret)
        )
    }

    async fn connect(&self, sim: &SimHandle, payload: Vec<u8>) -> NoiseSocket<Ws> {
        let (ws, _) = tokio_tungstenite::connect_async(sim.ws_url())
            .await
            .unwrap();
        let root = sim.root_public_key();
        let hs = ClientHandshake {
            noise_key: &self.noise,
            root_key: &root,
            payload,
            routing_info: None,
            now: wasp::types::SystemClock.unix_secs(),
        };
        tokio::time::timeout(GUARD, client_handshake(ws, hs))
            .await
            .expect("handshake in time")
            .expect("handshake succeeds")
    }

    /// The companion's answer to `<pair-success>`: verify, countersign.
    fn sign_pair_success(&self, iq: &Node) -> Node {
        let success = iq.child("pair-success").expect("pair-success");
        let container = success
            .child("device-identity")
            .and_then(Node::content_bytes)
            .expect("device-identity bytes");
        let container = AdvSignedDeviceIdentityHmac::decode(container).unwrap();
        let signed_bytes = container.details.unwrap();
        assert_eq!(
            hmac_sha256(&self.adv_secret, &[&signed_bytes]).to_vec(),
            container.hmac.unwrap(),
            "HMAC keyed with the QR's ADV secret"
        );
        let mut signed = AdvSignedDeviceIdentity::decode(signed_bytes.as_slice()).unwrap();
        let details = signed.details.clone().unwrap();
        let account_key: [u8; 32] = signed
            .account_signature_key
            .as_deref()
            .unwrap()
            .try_into()
            .unwrap();
        let account_sig: [u8; 64] = signed
            .account_signature
            .as_deref()
            .unwrap()
            .try_into()
            .unwrap();
        let msg = [&[6u8, 0][..], &details, &self.identity.public].concat();
        assert!(
            xeddsa_verify(&account_key, &msg, &account_sig),
            "account signature"
        );
        let msg = [&[6u8, 1][..], &details, &self.identity.public, &account_key].concat();
        signed.device_signature = Some(self.identity.sign(&msg).to_vec());
        let key_index = wasp::proto::AdvDeviceIdentity::decode(details.as_slice())
            .unwrap()
            .key_index
            .unwrap();
        Node::new("iq")
            .attr("to", "s.whatsapp.net")
            .attr("id", iq.get_attr("id").unwrap())
            .attr("type", "result")
            .children(vec![Node::new("pair-device-sign").children(vec![
                Node::new("device-identity")
                    .attr("key-index", key_index.to_string())
                    .bytes(signed.encode_to_vec()),
            ])])
    }
}

async fn next(socket: &mut NoiseSocket<Ws>) -> Node {
    tokio::time::timeout(GUARD, socket.recv_node())
        .await
        .expect("a stanza in time")
        .expect("a stanza")
}

/// Registers, receives the refs, gets scanned and countersigns; returns
/// the device JID the simulator linked.
async fn pair(sim: &SimHandle, phone: &str, companion: &Companion) -> String {
    let mut socket = companion
        .connect(sim, companion.registration_payload())
        .await;
    let pair_device = next(&mut socket).await;
    let refs: Vec<String> = pair_device
        .child("pair-device")
        .expect("pair-device")
        .child_nodes()
        .iter()
        .map(|r| String::from_utf8(r.content_bytes().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(refs.len(), 6);
    let qr = companion.qr(&refs[0]);
    let scan = sim.scan(phone, &qr);
    let companion_side = async {
        let iq = next(&mut socket).await;
        let jid = iq
            .child("pair-success")
            .and_then(|s| s.child("device"))
            .and_then(|d| d.get_attr("jid"))
            .unwrap()
            .to_owned();
        socket
            .send_node(&companion.sign_pair_success(&iq))
            .await
            .unwrap();
        let restart = next(&mut socket).await;
        assert_eq!(restart.tag, "stream:error");
        assert_eq!(restart.get_attr("code"), Some("515"));
        jid
    };
    let (linked, announced) = tokio::join!(scan, companion_side);
    let linked = linked.expect("scan links the device");
    assert_eq!(linked, announced);
    linked
}

async fn login(sim: &SimHandle, companion: &Companion, jid: &str) -> NoiseSocket<Ws> {
    let mut socket = companion.connect(sim, Companion::login_payload(jid)).await;
    let success = next(&mut socket).await;
    assert_eq!(success.tag, "success", "{success:?}");
    socket
}

fn iq(id: &str, xmlns: &str, kind: &str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("id", id)
        .attr("to", "s.whatsapp.net")
        .attr("xmlns", xmlns)
        .attr("type", kind)
        .children(children)
}

#[tokio::test]
async fn qr_pairing_then_login_keepalive_and_prekeys() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let phone = sim.create_phone(None).await.unwrap();
    let companion = Companion::new();
    let jid = pair(&sim, &phone, &companion).await;
    assert_eq!(jid, format!("{phone}:1@s.whatsapp.net"));

    let mut socket = login(&sim, &companion, &jid).await;
    assert!(sim.devices(&phone).unwrap()[0].connected);
    socket
        .send_node(&iq("p1", "w:p", "get", vec![Node::new("ping")]))
        .await
        .unwrap();
    let pong = next(&mut socket).await;
    assert_eq!(
        (pong.get_attr("id"), pong.get_attr("type")),
        (Some("p1"), Some("result"))
    );

    socket
        .send_node(&iq("c1", "encrypt", "get", vec![Node::new("count")]))
        .await
        .unwrap();
    let count = next(&mut socket).await;
    assert_eq!(
        count.child("count").and_then(|c| c.get_attr("value")),
        Some("0")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_forged_device_signature_links_nothing() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let phone = sim.create_phone(None).await.unwrap();
    let companion = Companion::new();
    let mut socket = companion
        .connect(&sim, companion.registration_payload())
        .await;
    let pair_device = next(&mut socket).await;
    let first_ref = pair_device.child("pair-device").unwrap().child_nodes()[0]
        .content_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap();
    let qr = companion.qr(&first_ref);
    let scan = sim.scan(&phone, &qr);
    let forger = async {
        let iq = next(&mut socket).await;
        // Signed by a key that is not the registered identity.
        let impostor = Companion {
            identity: KeyPair::generate(),
            ..Companion::new()
        };
        let mut answer = companion.sign_pair_success(&iq);
        let honest = answer
            .child("pair-device-sign")
            .unwrap()
            .child("device-identity")
            .unwrap();
        let mut signed = AdvSignedDeviceIdentity::decode(honest.content_bytes().unwrap()).unwrap();
        signed.device_signature = Some(impostor.identity.sign(b"anything").to_vec());
        let key_index = honest.get_attr("key-index").unwrap().to_owned();
        answer = Node::new("iq")
            .attr("id", iq.get_attr("id").unwrap())
            .attr("type", "result")
            .children(vec![Node::new("pair-device-sign").children(vec![
                Node::new("device-identity")
                    .attr("key-index", key_index)
                    .bytes(signed.encode_to_vec()),
            ])]);
        socket.send_node(&answer).await.unwrap();
    };
    let (result, ()) = tokio::join!(scan, forger);
    assert_eq!(result.unwrap_err().code(), "pairing_rejected");
    assert!(sim.devices(&phone).unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_keys_cannot_log_in() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let phone = sim.create_phone(None).await.unwrap();
    let companion = Companion::new();
    let jid = pair(&sim, &phone, &companion).await;
    let stranger = Companion::new();
    let mut socket = stranger.connect(&sim, Companion::login_payload(&jid)).await;
    let failure = next(&mut socket).await;
    assert_eq!(failure.tag, "failure");
    assert_eq!(failure.get_attr("reason"), Some("401"));
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_reach_the_connection() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let phone = sim.create_phone(None).await.unwrap();
    let companion = Companion::new();
    let jid = pair(&sim, &phone, &companion).await;

    // A second login replaces the first: conflict/replaced.
    let mut first = login(&sim, &companion, &jid).await;
    let _second = login(&sim, &companion, &jid).await;
    let replaced = next(&mut first).await;
    assert_eq!(replaced.tag, "stream:error");
    assert_eq!(
        replaced.child("conflict").and_then(|c| c.get_attr("type")),
        Some("replaced")
    );

    // Dropped: the socket just ends.
    let mut socket = login(&sim, &companion, &jid).await;
    sim.fault(&jid, FaultKind::Drop).unwrap();
    let ended = tokio::time::timeout(GUARD, socket.recv_node())
        .await
        .expect("ends in time");
    assert!(ended.is_err(), "{ended:?}");

    // Logged out: 401 device_removed, and never again.
    let mut socket = login(&sim, &companion, &jid).await;
    sim.fault(&jid, FaultKind::Logout).unwrap();
    let removed = next(&mut socket).await;
    assert_eq!(removed.get_attr("code"), Some("401"));
    assert_eq!(
        removed.child("conflict").and_then(|c| c.get_attr("type")),
        Some("device_removed")
    );
    let mut again = companion
        .connect(&sim, Companion::login_payload(&jid))
        .await;
    assert_eq!(next(&mut again).await.tag, "failure");
    assert!(sim.devices(&phone).unwrap().is_empty());
    sim.shutdown().await;
}
