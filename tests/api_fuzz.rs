//! A bounded, schema-driven fuzz of the HTTP API: requests generated
//! from the OpenAPI document (every route and method; valid and invalid
//! bodies, ids, queries and credentials) against a real host whose
//! sessions talk to the simulator, one of them linked. Every answer must
//! be below 500, documented for its route and status, and match the
//! schema the document declares for it; the events of a linking must
//! match the event schema.

mod api_support;

use api_support::schema::{generate, validate, Rng};
use api_support::{Api, Reply, GUARD, KEY};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasp::api::ServerConfig;

/// Cases of the random phase; with the fixed pass below, a few hundred
/// requests in all. `WASP_FUZZ_CASES` runs more when hunting.
const CASES: u32 = 300;
/// A group the sessions are not members of (the group routes' `{group}`).
const GROUP_ID: &str = "120363000000000001";

/// Session ids the cases use: live ones and broken ones.
const IDS: &[&str] = &[
    "linked",
    "idle",
    "ghost",
    "no%20spaces",
    "%FF",
    "%C3%28",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

struct Operation {
    path: String,
    method: String,
    spec: Value,
}

/// What the random phase varies.
#[derive(Clone, Debug)]
struct Case {
    /// The fixed pass: valid values everywhere.
    fixed: bool,
    op: usize,
    id: usize,
    auth: u8,
    body: u8,
    query: u8,
    seed: u64,
}

struct World {
    api: Api,
    doc: Value,
    ops: Vec<Operation>,
    /// A phone on the simulator that texts can go to.
    bob: String,
    /// Answers seen, by "METHOD path status", for the summary.
    seen: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
}

#[test]
fn the_api_answers_generated_requests_as_its_document_says() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = rt.block_on(setup());

    // Every operation with valid input on the idle session, then on the
    // linked one, the destructive ones last (a linked session's logout
    // answered 500 once).
    let mut order: Vec<usize> = (0..world.ops.len()).collect();
    order.sort_by_key(|&i| {
        let op = &world.ops[i];
        match (op.method.as_str(), op.path.rsplit('/').next()) {
            ("delete", _) => 3,
            (_, Some("logout")) => 2,
            (_, Some("restart")) => 1,
            _ => 0,
        }
    });
    let fixed = [1, 0]
        .into_iter()
        .flat_map(|id| order.iter().map(move |&op| (id, op)));
    for (n, (id, op)) in fixed.enumerate() {
        let case = Case {
            fixed: true,
            op,
            id,
            auth: 0,
            body: 0,
            query: 1,
            seed: n as u64,
        };
        if let Err(e) = rt.block_on(run_case(&world, &case)) {
            panic!("fixed pass, {case:?}: {e}");
        }
    }

    let cases = std::env::var("WASP_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        0..world.ops.len(),
        0..IDS.len(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u64>(),
    )
        .prop_map(|(op, id, auth, body, query, seed)| Case {
            fixed: false,
            op,
            id,
            auth,
            body,
            query,
            seed,
        });
    let result = runner.run(&strategy, |case| {
        rt.block_on(run_case(&world, &case))
            .map_err(|e| TestCaseError::fail(format!("{case:?}: {e}")))
    });
    rt.block_on(world.api.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = world.seen.lock().unwrap();
    eprintln!("answers by route and status: {seen:#?}");
    let ok: usize = seen
        .iter()
        .filter(|(k, _)| k.ends_with(" 200") || k.ends_with(" 201") || k.ends_with(" 204"))
        .map(|(_, n)| n)
        .sum();
    let all: usize = seen.values().sum();
    assert!(
        ok * 10 >= all,
        "too few valid requests: {ok} of {all} succeeded"
    );
}

/// A host with one linked and one idle session; the events of the
/// linking are checked against the document's event schema.
async fn setup() -> World {
    let api = Api::start(ServerConfig::default()).await;
    let doc = api.call("GET", "/openapi.json", None).await.json();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, spec) in item.as_object().expect("path item") {
            ops.push(Operation {
                path: path.clone(),
                method: method.clone(),
                spec: spec.clone(),
            });
        }
    }

    let mut events = open_stream(&api.addr, "/v1/events").await;
    let created = api
        .call("POST", "/v1/sessions", Some(r#"{"id":"linked"}"#))
        .await;
    assert_eq!(created.status, 201);
    let qr = loop {
        let reply = api.call("GET", "/v1/sessions/linked/qr", None).await;
        if reply.status == 200 {
            break reply.json()["qr"].as_str().expect("qr").to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let phone = api.sim.create_phone(None).await.expect("phone");
    api.sim.scan(&phone, &qr).await.expect("scan");
    let schema = json!({"$ref": "#/components/schemas/HostEvent"});
    let mut seen = String::new();
    tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        while !seen.contains("event: connected\n") {
            let n = events.read(&mut buf).await.expect("stream read");
            assert!(n > 0, "stream closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .expect("connected event");
    let mut checked = 0;
    for data in seen.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let event: Value = serde_json::from_str(data).expect("event data is JSON");
        if let Err(e) = validate(&doc, &schema, &event) {
            panic!("event {event} does not match HostEvent: {e}");
        }
        checked += 1;
    }
    assert!(checked >= 3, "qr, paired, connected: {seen}");
    drop(events);

    let created = api
        .call("POST", "/v1/sessions", Some(r#"{"id":"idle"}"#))
        .await;
    assert_eq!(created.status, 201);
    let bob = api.sim.create_phone(None).await.expect("phone");
    World {
        api,
        doc,
        ops,
        bob,
        seen: Default::default(),
    }
}

async fn open_stream(addr: &str, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Builds the case's request, sends it and checks the answer.
async fn run_case(world: &World, case: &Case) -> Result<(), String> {
    let op = &world.ops[case.op];
    let mut rng = Rng::new(case.seed);
    let group = match rng.below(4) {
        0 if !case.fixed => rng.word(),
        1 => GROUP_ID.to_string(),
        _ => format!("{GROUP_ID}@g.us"),
    };
    let path = op
        .path
        .replace("{id}", IDS[case.id])
        .replace("{group}", &group);
    let query = query_of(op, case.query, &mut rng);
    let secured = op.spec.get("security").is_none();
    let good = format!("Bearer {KEY}");
    let lower = format!("bearer {KEY}");
    let auth: Vec<(&str, &str)> = match case.auth % 10 {
        0..=5 => vec![("Authorization", &good)],
        6 => vec![],
        7 => vec![("Authorization", "Bearer wrong")],
        8 => vec![("Authorization", &lower)],
        _ => vec![("Authorization", &good), ("Authorization", &good)],
    };
    let body = body_of(world, op, case, &mut rng);
    // Now and then a method the route does not take.
    let wrong_method = (!case.fixed && case.seed % 9 == 0)
        .then(|| {
            let taken = world.doc["paths"][&op.path].as_object().expect("path item");
            ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .find(|m| !taken.contains_key(*m))
        })
        .flatten();
    let method = wrong_method.unwrap_or(&op.method).to_uppercase();

    let mut head = format!("{method} {path}{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (name, value) in &auth {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = &body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body.as_deref().unwrap_or_default());
    let reply = send(&world.api.addr, &raw).await;
    let what = format!(
        "{method} {path}{query} -> {} {:?} {}",
        reply.status,
        reply.header("content-type"),
        String::from_utf8_lossy(&reply.body)
    );

    *world
        .seen
        .lock()
        .unwrap()
        .entry(format!("{method} {} {}", op.path, reply.status))
        .or_default() += 1;
    if reply.status >= 500 {
        return Err(format!("server error: {what}"));
    }
    if wrong_method.is_some() {
        // Credentials are checked first on the routes that need them.
        let want = match case.auth % 10 {
            6 | 7 if secured => 401,
            9 if secured => 400,
            _ => 405,
        };
        let error = json!({"$ref": "#/components/schemas/ErrorBody"});
        let body: Value =
            serde_json::from_slice(&reply.body).map_err(|e| format!("{e}: {what}"))?;
        let allowed = want != 405
            || reply
                .header("allow")
                .is_some_and(|a| a.contains(&op.method.to_uppercase()));
        return match (
            reply.status == want,
            validate(&world.doc, &error, &body),
            allowed,
        ) {
            (true, Ok(()), true) => Ok(()),
            _ => Err(format!("a wrong method is not a JSON {want}: {what}")),
        };
    }
    if secured && matches!(case.auth % 10, 6 | 7) && reply.status != 401 && reply.status != 400 {
        return Err(format!("bad credentials let through: {what}"));
    }
    if secured && case.auth % 10 == 9 && reply.status != 400 {
        return Err(format!("two Authorization headers let through: {what}"));
    }
    check_documented(&world.doc, op, &reply).map_err(|e| format!("{e}: {what}"))
}

/// A query for the operation's query parameters: valid, invalid or
/// repeated values, and now and then an unknown parameter.
fn query_of(op: &Operation, kind: u8, rng: &mut Rng) -> String {
    let mut pairs = Vec::new();
    for param in op.spec["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "query" {
            continue;
        }
        let name = param["name"].as_str().unwrap_or_default();
        match kind % 5 {
            0 => {}
            1 | 2 => pairs.push(format!("{name}={}", rng.pick(&["json", "png", "svg"]))),
            3 => pairs.push(format!("{name}={}", rng.word())),
            _ => {
                pairs.push(format!("{name}=json"));
                pairs.push(format!("{name}=png"));
            }
        }
    }
    if kind % 7 == 6 {
        pairs.push(format!("{}=1", rng.word()));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// A body for the operation: valid (generated from its schema), with an
/// unknown field, with a field missing or of the wrong type, not JSON,
/// or empty. Operations without a body mostly get none.
fn body_of(world: &World, op: &Operation, case: &Case, rng: &mut Rng) -> Option<Vec<u8>> {
    let (kind, fixed) = (case.body, case.fixed);
    let Some(schema) = op.spec["requestBody"]["content"]["application/json"].get("schema") else {
        return (kind % 8 == 7).then(|| b"{\"stray\":1}".to_vec());
    };
    let bob = world.bob.clone();
    let field = move |name: &str, rng: &mut Rng| -> Option<Value> {
        Some(match name {
            "webhook_url" => json!("http://127.0.0.1:9/hook"),
            "id" => json!(match rng.below(4) {
                0 if !fixed => "bad id!".to_string(),
                _ => format!("f{}", rng.word()),
            }),
            "to" => json!(match rng.below(4) {
                0 if !fixed => rng.word(),
                1 if !fixed => "+99912345678".to_string(),
                _ => format!("+{bob}"),
            }),
            "text" => json!(rng.word()),
            "ids" => json!([rng.word()]),
            "chat" => json!(format!("{bob}@s.whatsapp.net")),
            "subject" => json!(format!("g{}", rng.word())),
            "participants" => json!(match rng.below(4) {
                0 if !fixed => vec![rng.word()],
                _ => vec![format!("+{bob}")],
            }),
            "code" => json!(format!("C{}", rng.word())),
            "phone" => json!(match rng.below(3) {
                0 if !fixed => "x".to_string(),
                _ => bob.clone(),
            }),
            _ => return None,
        })
    };
    let valid = generate(&world.doc, schema, rng, &field);
    let bytes = |v: &Value| serde_json::to_vec(v).unwrap();
    Some(match kind % 10 {
        0..=4 => bytes(&valid),
        5 => {
            let mut v = valid;
            if let Some(o) = v.as_object_mut() {
                o.insert(format!("x{}", rng.word()), json!(1));
            }
            bytes(&v)
        }
        6 => {
            let mut v = valid;
            if let Some(o) = v.as_object_mut() {
                let names: Vec<String> = o.keys().cloned().collect();
                if !names.is_empty() {
                    let name = rng.pick(&names).clone();
                    o.remove(&name);
                }
            }
            bytes(&v)
        }
        7 => bytes(rng.pick(&[
            json!([1, 2]),
            json!("text"),
            json!(7),
            json!({"to": 5, "text": []}),
        ])),
        8 => b"{\"to\": \"+1".to_vec(),
        _ => Vec::new(),
    })
}

/// Sends `raw` and reads the answer; an event stream is read up to its
/// head only (it never ends).
async fn send(addr: &str, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            out.extend_from_slice(&buf[..n]);
            let head = Reply::parse_head(&out);
            if head.is_some_and(|(h, _)| h.header("content-type") == Some("text/event-stream")) {
                return;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer in time");
    let (head, _) = Reply::parse_head(&out).expect("an HTTP answer");
    if head.header("content-type") == Some("text/event-stream") {
        return head;
    }
    Reply::parse(&out)
        .unwrap_or_else(|| panic!("not a complete answer: {:?}", String::from_utf8_lossy(&out)))
}

/// The answer's status is documented for the operation, its content
/// type is one of those documented for that status, and a JSON body
/// matches the declared schema.
fn check_documented(doc: &Value, op: &Operation, reply: &Reply) -> Result<(), String> {
    let status = reply.status.to_string();
    let Some(response) = op.spec["responses"].get(&status) else {
        return Err(format!("status {status} is not documented"));
    };
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return if reply.body.is_empty() {
            Ok(())
        } else {
            Err("a body where none is documented".to_string())
        };
    };
    let media = reply
        .header("content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let Some(declared) = content.get(&media) else {
        return Err(format!("content type {media:?} is not documented"));
    };
    match media.as_str() {
        "application/json" => {
            let value: Value =
                serde_json::from_slice(&reply.body).map_err(|e| format!("not JSON: {e}"))?;
            validate(doc, &declared["schema"], &value)
        }
        "image/png" if !reply.body.starts_with(b"\x89PNG") => Err("not a PNG".to_string()),
        _ => Ok(()),
    }
}
