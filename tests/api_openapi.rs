//! The OpenAPI document describes what the API really takes and answers:
//! every operation declares a schema for each status it can answer
//! (images and streams included), request bodies where handlers read
//! one, the error schema, and per-route security (health routes open).

mod api_support;

use api_support::schema::resolve;
use api_support::Api;
use serde_json::Value;
use wasp::api::ServerConfig;

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                out.push((path.clone(), method.to_string(), op.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_declares_bodies_responses_and_security() {
    let api = Api::start(ServerConfig::default()).await;
    let doc = api.call("GET", "/openapi.json", None).await.json();
    let generated = serde_json::to_value(wasp::api::openapi_document()).unwrap();
    assert_eq!(
        doc, generated,
        "/openapi.json serves the generated document"
    );
    assert_eq!(doc["openapi"], "3.1.0");

    let ops = operations(&doc);
    assert_eq!(ops.len(), 33, "every route of the router is documented");
    for (path, method, op) in &ops {
        let what = format!("{method} {path}");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.contains_key("400") && responses.contains_key("413"),
            "{what}"
        );
        for (status, response) in responses {
            if status == "204" {
                assert!(response.get("content").is_none(), "{what} 204 has a body");
                continue;
            }
            let content = response["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{what} {status}: no content"));
            for (media, body) in content {
                let schema = &body["schema"];
                assert!(schema.is_object(), "{what} {status} {media}: no schema");
                // Every reference resolves.
                resolve(&doc, schema);
            }
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    content["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{what} {status}"
                );
            }
        }
        let open = path == "/healthz" || path == "/readyz";
        if open {
            assert_eq!(op["security"], serde_json::json!([{}]), "{what} is open");
            assert!(!responses.contains_key("401"), "{what}");
        } else {
            assert!(
                op.get("security").is_none(),
                "{what} overrides the bearer key"
            );
            assert!(responses.contains_key("401"), "{what}: no 401");
        }
    }
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    for (path, want) in [
        ("/v1/sessions", "CreateSession"),
        ("/v1/sessions/{id}/messages", "SendText"),
        ("/v1/sessions/{id}/pair-code", "PairCodeRequest"),
        ("/v1/sessions/{id}/read", "MarkRead"),
    ] {
        let body =
            &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert!(
            body.to_string()
                .contains(&format!("#/components/schemas/{want}")),
            "POST {path}: request body {body}"
        );
        let schema = &doc["components"]["schemas"][want];
        assert_eq!(
            schema["additionalProperties"], false,
            "{want} refuses unknown fields"
        );
    }
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error", "message"]));
    let qr = &doc["paths"]["/v1/sessions/{id}/qr"]["get"]["responses"]["200"]["content"];
    for media in ["application/json", "image/png", "image/svg+xml"] {
        assert!(qr[media].is_object(), "QR as {media}");
    }
    let events = &doc["paths"]["/v1/events"]["get"]["responses"]["200"]["content"];
    assert!(events["text/event-stream"]["schema"]["$ref"]
        .as_str()
        .is_some_and(|r| r.ends_with("/HostEvent")));
    api.stop().await;
}
