//! Keeps `openapi/openapi.yaml` true: its operations are exactly the server's routes
//! (`arrayd::server::routes`, the only source the router is built from), and the
//! schemas of the metadata object and of problems list exactly the keys real responses
//! carry.

use std::collections::BTreeSet;

use crate::support::TestServer;
use serde_json::{Value, json};

fn document() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml"))
            .unwrap();
    serde_norway::from_str(&text).unwrap()
}

/// `{*key}` (axum wildcard) is written `{key}` in OpenAPI.
fn normalize(path: &str) -> String {
    path.replace("{*", "{")
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc = document();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if let Some(op) = item.get(method) {
                assert!(
                    op.get("responses").is_some(),
                    "{method} {path} has no responses"
                );
                assert!(
                    op.get("summary").is_some(),
                    "{method} {path} has no summary"
                );
                // GET answers HEAD too; a documented HEAD needs the GET route.
                let m = if method == "head" { "get" } else { method };
                documented.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = arrayd::server::routes()
        .iter()
        .map(|r| (r.method.to_string(), normalize(r.path)))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.yaml: {undocumented:?}"
    );
    assert!(
        phantom.is_empty(),
        "openapi.yaml documents routes the server lacks: {phantom:?}"
    );
}

fn required(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn schemas_match_real_responses() {
    let doc = document();
    let s = TestServer::golden().await;
    s.register(
        "raw",
        &json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw"}),
    )
    .await;
    let shown: Value = s.get("/v1/arrays/raw").await.json().await.unwrap();
    assert_eq!(keys(&shown["metadata"]), required(&doc, "Metadata"));
    assert!(required(&doc, "ArrayDetail").is_subset(&keys(&shown)));
    assert_eq!(keys(&shown["chain"]), required(&doc, "ChainNode"));
    let problem: Value = s.get("/v1/arrays/missing").await.json().await.unwrap();
    assert_eq!(keys(&problem), required(&doc, "Problem"));
}
