//! The simulator's admin API over a real listener: what a test harness or
//! a person with curl relies on.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wasp::sim::{self, SimConfig, SimHandle};

/// One HTTP/1.1 request with `Connection: close`; returns status and the
/// body parsed as JSON.
async fn request(sim: &SimHandle, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let exchange = async {
        let mut stream = TcpStream::connect(sim.addr()).await.unwrap();
        let body = body.unwrap_or("");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            sim.addr(),
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        raw
    };
    // Hang guard only.
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("the simulator answers");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON body ({e}): {body:?}"));
    (status, json)
}

async fn started() -> SimHandle {
    sim::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

#[tokio::test]
async fn root_key_endpoint_serves_the_trusted_root() {
    let sim = started().await;
    let (status, body) = request(&sim, "GET", "/sim/root-key", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["root_public_key"].as_str(),
        Some(hex::encode(sim.root_public_key()).as_str())
    );
    assert!(sim.ws_url().ends_with("/ws/chat"));
    sim.shutdown().await;
}

#[tokio::test]
async fn phones_are_created_with_or_without_a_number() {
    let sim = started().await;
    let (status, body) = request(
        &sim,
        "POST",
        "/sim/phones",
        Some(r#"{"phone":"15551230000"}"#),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["phone"], "15551230000");

    let (status, body) = request(&sim, "POST", "/sim/phones", None).await;
    assert_eq!(status, 201);
    let random = body["phone"].as_str().unwrap().to_owned();
    assert!(random.bytes().all(|b| b.is_ascii_digit()) && random != "15551230000");

    let (status, body) = request(
        &sim,
        "POST",
        "/sim/phones",
        Some(r#"{"phone":"15551230000"}"#),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "phone_exists");

    let (status, body) = request(&sim, "GET", "/sim/phones/15551230000/devices", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["devices"], serde_json::json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_a_400_json_error() {
    let sim = started().await;
    for (path, body) in [
        ("/sim/phones", "{not json"),
        ("/sim/phones", r#"{"phone":"12-34"}"#),
        ("/sim/phones", r#"{"phone":123}"#),
    ] {
        let (status, json) = request(&sim, "POST", path, Some(body)).await;
        assert_eq!(status, 400, "{path} {body}");
        assert_eq!(json["error"], "bad_request", "{path} {body}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let phone = sim.create_phone(None).await.unwrap();
    let (status, json) = request(
        &sim,
        "POST",
        &format!("/sim/phones/{phone}/scan"),
        Some(r#"{"qr":"not,a,qr"}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "invalid_qr");
    let (status, json) = request(
        &sim,
        "POST",
        "/sim/devices/1555:1@s.whatsapp.net/fault",
        Some(r#"{"kind":"explode"}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "bad_request");
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_phones_devices_and_refs_are_404() {
    let sim = started().await;
    let (status, json) = request(&sim, "GET", "/sim/phones/19998887777/devices", None).await;
    assert_eq!(status, 404);
    assert_eq!(json["error"], "unknown_phone");

    let (status, json) = request(
        &sim,
        "POST",
        "/sim/devices/19998887777:1@s.whatsapp.net/fault",
        Some(r#"{"kind":"drop"}"#),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(json["error"], "unknown_device");

    // A well-formed QR whose ref the simulator never issued.
    let phone = sim.create_phone(None).await.unwrap();
    let key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let qr = format!(r#"{{"qr":"2@never,{key},{key},{key}"}}"#);
    let (status, json) = request(
        &sim,
        "POST",
        &format!("/sim/phones/{phone}/scan"),
        Some(&qr),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(json["error"], "unknown_ref");

    let (status, json) = request(&sim, "GET", "/sim/nothing-here", None).await;
    assert_eq!(status, 404);
    assert_eq!(json["error"], "not_found");
    sim.shutdown().await;
}

#[tokio::test]
async fn pair_code_errors_name_what_is_missing() {
    let sim = started().await;
    let phone = sim.create_phone(None).await.unwrap();
    let enter = |who: String, body: &'static str| {
        let sim = &sim;
        async move {
            request(
                sim,
                "POST",
                &format!("/sim/phones/{who}/pair-code"),
                Some(body),
            )
            .await
        }
    };
    // No companion asked for a code for this phone.
    let (status, json) = enter(phone.clone(), r#"{"code":"ABCD1234"}"#).await;
    assert_eq!(status, 409);
    assert_eq!(json["error"], "no_code_request");
    // Not a code at all (0 is not in the alphabet; 7 characters).
    for bad in [r#"{"code":"ABCD0123"}"#, r#"{"code":"ABC1234"}"#, r#"{}"#] {
        let (status, json) = enter(phone.clone(), bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(json["error"], "bad_request", "{bad}");
    }
    let (status, json) = enter("15550009999".into(), r#"{"code":"ABCD1234"}"#).await;
    assert_eq!(status, 404);
    assert_eq!(json["error"], "unknown_phone");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_restarted_simulator_keeps_its_root_when_given_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        root_key_file: Some(dir.path().join("root.key")),
        ..SimConfig::default()
    };
    let first = sim::start(config.clone()).await.unwrap();
    let root = first.root_public_key();
    first.shutdown().await;
    let second = sim::start(config).await.unwrap();
    assert_eq!(second.root_public_key(), root);
    second.shutdown().await;
}

#[tokio::test]
async fn an_accounts_lid_is_read_and_its_chats_moved_to_it() {
    let sim = started().await;
    let (_, created) = request(
        &sim,
        "POST",
        "/sim/phones",
        Some(r#"{"phone":"15550009999"}"#),
    )
    .await;
    let phone = created["phone"].as_str().unwrap().to_owned();
    let path = format!("/sim/phones/{phone}/lid");
    let (status, before) = request(&sim, "GET", &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(before["phone"], phone.as_str());
    assert_eq!(before["migrated"], false);
    let lid = before["lid"].as_str().unwrap().to_owned();
    assert!(lid.ends_with("@lid") && lid.len() > 10, "{lid}");

    let (status, after) = request(&sim, "POST", &path, Some(r#"{"migrated":true}"#)).await;
    assert_eq!(status, 200);
    assert_eq!(after["migrated"], true);
    assert_eq!(after["lid"], lid.as_str());
    assert!(sim.lid_status(&phone).unwrap().migrated);

    let (status, body) = request(&sim, "POST", &path, Some(r#"{"migrated":"yes"}"#)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let (status, body) = request(&sim, "GET", "/sim/phones/999999/lid", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_phone"))
    );
}

#[tokio::test]
async fn groups_are_created_read_and_changed_by_their_members() {
    let sim = started().await;
    let mut phones = Vec::new();
    for _ in 0..3 {
        let (_, created) = request(&sim, "POST", "/sim/phones", None).await;
        phones.push(created["phone"].as_str().unwrap().to_owned());
    }
    let (alice, bob, carol) = (&phones[0], &phones[1], &phones[2]);
    let body = format!(r#"{{"creator":"{alice}","subject":"Team","participants":["{bob}"]}}"#);
    let (status, group) = request(&sim, "POST", "/sim/groups", Some(&body)).await;
    assert_eq!(status, 201, "{group}");
    let id = group["id"].as_str().unwrap().to_owned();
    assert!(id.ends_with("@g.us"));
    assert_eq!(group["addressing_mode"], "pn");
    assert_eq!(group["participants"][0]["role"], "superadmin");
    assert_eq!(group["participants"][1]["phone"], bob.as_str());

    let (status, read) = request(&sim, "GET", &format!("/sim/groups/{id}"), None).await;
    assert_eq!((status, read["subject"].as_str()), (200, Some("Team")));

    let path = format!("/sim/groups/{id}/participants");
    let not_admin = format!(r#"{{"by":"{bob}","remove":["{alice}"]}}"#);
    let (status, body) = request(&sim, "POST", &path, Some(&not_admin)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("not_admin")));
    let add = format!(r#"{{"by":"{alice}","add":["{carol}"]}}"#);
    let (status, body) = request(&sim, "POST", &path, Some(&add)).await;
    assert_eq!(
        (status, body["participants"].as_array().map(Vec::len)),
        (200, Some(3))
    );

    // Any member renames an unlocked group; once an admin locks it, only
    // admins do.
    let subject = format!("/sim/groups/{id}/subject");
    let settings = format!("/sim/groups/{id}/settings");
    let rename = format!(r#"{{"by":"{bob}","subject":"Bob's"}}"#);
    let (status, body) = request(&sim, "POST", &subject, Some(&rename)).await;
    assert_eq!((status, body["subject"].as_str()), (200, Some("Bob's")));
    let lock = format!(r#"{{"by":"{bob}","locked":true}}"#);
    let (status, body) = request(&sim, "POST", &settings, Some(&lock)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("not_admin")));
    let lock = format!(r#"{{"by":"{alice}","locked":true}}"#);
    let (status, body) = request(&sim, "POST", &settings, Some(&lock)).await;
    assert_eq!((status, body["locked"].as_bool()), (200, Some(true)));
    let (status, body) = request(&sim, "POST", &subject, Some(&rename)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("not_admin")));

    let (status, body) = request(&sim, "GET", "/sim/groups/120363000000000000", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_group"))
    );
    let bad = format!(r#"{{"creator":"{alice}","subject":"x","addressing_mode":"smoke"}}"#);
    let (status, _) = request(&sim, "POST", "/sim/groups", Some(&bad)).await;
    assert_eq!(status, 400);
}
