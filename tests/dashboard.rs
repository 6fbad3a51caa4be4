//! The web dashboard in a real browser (headless Chromium through
//! WebDriver) against a host with the simulator behind wasp's own server:
//! the page asks for the API key, creates a session, shows its QR code,
//! turns it connected when a simulated phone scans that code, sends a
//! text the phone reads, raises and clears the capacity alert, deletes a
//! session, and fits a phone-sized screen. The screenshot of the README
//! is taken here (`WASP_UPDATE_SCREENSHOT=1` writes docs/dashboard.png).
#![cfg(unix)]

#[allow(dead_code)] // not every helper is used here
#[path = "interop/admin.rs"]
mod admin;
mod api_support;
mod browser;

use admin::AdminClient;
use api_support::{Api, KEY};
use browser::Browser;
use wasp::api::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_links_a_session_and_sends_a_text_in_a_real_browser() {
    // Two sessions fill this host: the second raises the 80% alert.
    let api = Api::start_with(ServerConfig::default(), |host| host.max_sessions = Some(2)).await;
    let sim = AdminClient::new(&api.sim.http_url()).expect("sim admin url");
    let browser = Browser::start(1280, 1000).await;
    browser.goto(&format!("http://{}/", api.addr)).await;

    // The API has a key: the page asks for it, and keeps it in this tab only.
    browser
        .until(
            "the key prompt",
            "return !document.getElementById('key-panel').hidden",
        )
        .await;
    browser.type_into("#key-input", KEY).await;
    browser.click("#key-submit").await;
    browser
        .until(
            "the event stream connected",
            "return document.getElementById('live').classList.contains('on')",
        )
        .await;
    let stored = browser
        .js("return sessionStorage.getItem('wasp.apiKey')")
        .await;
    assert_eq!(stored, KEY);
    assert_eq!(browser.js("return localStorage.length").await, 0);

    // Create a session: it is listed and selected, and its QR code shows.
    browser.type_into("#create-id", "alice").await;
    browser.click("#create-submit").await;
    browser
        .until(
            "alice listed",
            "return document.querySelector('[data-session=\"alice\"]') !== null",
        )
        .await;
    assert_eq!(browser.text("#d-id").await, "alice");
    browser
        .until(
            "the QR image drawn",
            "const img = document.getElementById('qr-img'); \
             return img.complete && img.naturalWidth > 100 && img.dataset.session === 'alice'",
        )
        .await;
    let shown = browser
        .until(
            "the QR text",
            "return document.getElementById('qr-text').textContent",
        )
        .await;
    let shown = shown.as_str().expect("text").to_string();
    let current = api.call("GET", "/v1/sessions/alice/qr", None).await.json();
    assert_eq!(shown, current["qr"], "the page shows the code the API has");

    // A phone scans what the page shows: the row turns connected.
    let phone = sim.create_phone().await.expect("phone");
    sim.scan(&phone, &shown).await.expect("the phone links");
    browser
        .until(
            "alice connected in the list",
            "return document.querySelector('[data-session=\"alice\"]').dataset.status === 'connected'",
        )
        .await;
    browser
        .until(
            "the details show the JID",
            &format!("return document.getElementById('d-jid').textContent.startsWith('{phone}')"),
        )
        .await;
    assert_eq!(browser.text("#d-status").await, "connected");
    assert!(
        browser
            .js("return document.getElementById('link-box').hidden")
            .await
            == true,
        "no QR once linked"
    );

    // Send a text from the page; the other phone decrypts it.
    let bob = sim.create_phone().await.expect("bob");
    browser.type_into("#send-to", &format!("+{bob}")).await;
    browser
        .type_into("#send-text", "hi Bob, from the dashboard")
        .await;
    browser.click("#send-submit").await;
    let sent = browser
        .until(
            "the send result",
            "return document.getElementById('send-result').textContent || \
             document.getElementById('send-error').textContent",
        )
        .await;
    assert!(
        sent.as_str().unwrap_or_default().starts_with("Sent "),
        "{sent}"
    );
    api.until("bob reads the text", || async {
        let texts = sim.phone_texts(&bob).await.ok()?;
        texts
            .iter()
            .any(|t| t == "hi Bob, from the dashboard")
            .then_some(())
    })
    .await;

    // The live events list the session's life.
    browser
        .until(
            "a connected event listed",
            "return document.querySelector('#event-list li[data-type=\"connected\"]') !== null",
        )
        .await;

    // A second session fills the host: the alert shows, with its QR.
    assert!(
        browser
            .js("return document.getElementById('capacity-alert').hidden")
            .await
            == true
    );
    browser.type_into("#create-id", "bob").await;
    browser.click("#create-submit").await;
    browser
        .until(
            "the capacity alert",
            "return !document.getElementById('capacity-alert').hidden",
        )
        .await;
    browser
        .until(
            "2 of 2 sessions",
            "return document.getElementById('capacity-label').textContent.startsWith('2 of 2 sessions')",
        )
        .await;
    browser
        .until(
            "bob's QR image",
            "const img = document.getElementById('qr-img'); \
             return img.complete && img.naturalWidth > 100 && img.dataset.session === 'bob'",
        )
        .await;
    // Tall enough for the events below the sessions.
    browser.resize(1280, 1760).await;
    let png = browser.screenshot().await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    save_screenshot("dashboard.png", &png, true);

    // Delete it (the button asks twice): gone, and the alert clears.
    browser.click("#d-delete").await;
    browser.click("#d-delete").await;
    browser
        .until(
            "bob gone",
            "return document.querySelector('[data-session=\"bob\"]') === null",
        )
        .await;
    browser
        .until(
            "the alert cleared",
            "return document.getElementById('capacity-alert').hidden",
        )
        .await;
    assert_eq!(api.call("GET", "/v1/sessions/bob", None).await.status, 404);

    // Every field has a label; on a phone-sized screen nothing spills
    // sideways.
    let unlabelled = browser
        .js("return [...document.querySelectorAll('input, textarea')]\
             .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))\
             .map(e => e.id)")
        .await;
    assert_eq!(unlabelled, serde_json::json!([]), "fields without a label");
    browser.click("[data-session=\"alice\"]").await;
    browser.resize(390, 844).await;
    browser
        .until(
            "the page fits 390 px",
            "return document.documentElement.clientWidth <= 390 && \
             document.documentElement.scrollWidth <= document.documentElement.clientWidth",
        )
        .await;
    save_screenshot("dashboard-phone.png", &browser.screenshot().await, false);

    browser.quit().await;
    api.stop().await;
}

/// Kept with the test's build output; the README's image goes into docs/
/// when asked (`WASP_UPDATE_SCREENSHOT=1`), so a test run does not
/// rewrite a committed file.
fn save_screenshot(name: &str, png: &[u8], for_docs: bool) {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&out, png).expect("screenshot written");
    if for_docs && std::env::var_os("WASP_UPDATE_SCREENSHOT").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::write(docs, png).expect("screenshot written into docs/");
    }
}
