//! The viewer's pages over a real server: combined neuroglancer states (layers, shaders,
//! dimensions, position, redirect, refusals), the local client of `--neuroglancer-dir`,
//! and the index page's cards.

use crate::support::assert_problem;
use crate::viewer::{json_of, server};
use serde_json::{Value, json};

#[tokio::test]
async fn combined_state_fits_every_layer() {
    let (s, _root) = server(|st| st.neuroglancer_url = "http://ng.example/".into()).await;
    s.register("fg", &json!({"type": "binarize", "source_array_config": "labels", "groupings": [["mito", [1]], ["er", [2, 3]]]})).await;
    s.register(
        "mask",
        &json!({"type": "ones", "source_array_config": "raw"}),
    )
    .await;
    s.register(
        "norm",
        &json!({"type": "intensities", "source_array_config": "raw", "min": 0, "max": 255}),
    )
    .await;
    let st = json_of(
        &s,
        "/v1/neuroglancer?layers=raw,labels,fg,mask,norm&format=json",
    )
    .await;
    let layers = st["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["raw", "labels", "fg", "mask", "norm"]);
    let types: Vec<&str> = layers.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["image", "segmentation", "image", "image", "image"]);
    assert_eq!(
        layers[0]["source"],
        format!("precomputed://{}/v1/arrays/raw/precomputed", s.base)
    );
    // binarize: one colour per named channel.
    let shader = layers[2]["shader"].as_str().unwrap();
    assert!(
        shader.contains("#uicontrol vec3 mito color")
            && shader.contains("#uicontrol vec3 er color"),
        "{shader}"
    );
    // The channel axis stays neuroglancer's channel dimension (c^): a plain source URL.
    assert_eq!(
        layers[2]["source"],
        format!("precomputed://{}/v1/arrays/fg/precomputed", s.base)
    );
    assert!(shader.contains("getDataValue(1)"), "{shader}");
    assert_eq!(layers[3]["opacity"], 0.3);
    assert_eq!(
        layers[4]["shaderControls"]["normalized"]["range"],
        json!([0, 1])
    );
    // Dimensions: the finest voxel size per axis (labels 4 nm in z, raw 8), in metres.
    assert_eq!(st["dimensions"]["x"], json!([4e-9, "m"]));
    assert_eq!(st["dimensions"]["z"], json!([4e-9, "m"]));
    // Position: the centre of the union of the ROIs, in voxels of the dimensions.
    let pos: Vec<f64> = st["position"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let labels_meta = json_of(&s, "/v1/arrays/labels").await;
    let lo_z = labels_meta["metadata"]["roi"]["offset"][0]
        .as_f64()
        .unwrap()
        .min(80.0);
    let hi_x = (40.0 + 90.0 * 4.0f64).max(
        labels_meta["metadata"]["roi"]["offset"][2]
            .as_f64()
            .unwrap()
            + labels_meta["metadata"]["roi"]["shape"][2].as_f64().unwrap(),
    );
    let lo_x = 40.0f64.min(
        labels_meta["metadata"]["roi"]["offset"][2]
            .as_f64()
            .unwrap(),
    );
    assert_eq!(pos[2], (lo_z + 400.0) / 2.0 / 4.0);
    assert_eq!(pos[0], (lo_x + hi_x) / 2.0 / 4.0);
    assert!(st["crossSectionScale"].as_f64().unwrap() > 0.0);
    // The per-array route builds the same layer.
    let one = json_of(&s, "/v1/arrays/fg/neuroglancer?format=json").await;
    assert_eq!(one["layers"][0], layers[2]);
    // Redirect to --neuroglancer-url with the state in the fragment.
    let r = s.get("/v1/neuroglancer?layers=raw,labels").await;
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap();
    let frag = loc.strip_prefix("http://ng.example/#!").expect(loc);
    let decoded: Value = serde_json::from_str(
        &percent_encoding::percent_decode_str(frag)
            .decode_utf8()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(decoded["layers"].as_array().unwrap().len(), 2);
    for (q, status) in [
        ("", 400),
        ("layers=", 400),
        ("layers=raw,raw", 400),
        ("layers=raw,nope", 404),
        ("layers=raw&format=xml", 400),
        ("layers=raw&x=1", 400),
    ] {
        assert_problem(s.get(&format!("/v1/neuroglancer?{q}")).await, status).await;
    }
    let many = vec!["raw"; 33].join(",");
    let body = assert_problem(s.get(&format!("/v1/neuroglancer?layers={many}")).await, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("32"), "{body}");
}

#[tokio::test]
async fn neuroglancer_dir_is_served_and_links_point_there() {
    let client = tempfile::tempdir().unwrap();
    std::fs::write(
        client.path().join("index.html"),
        "<!doctype html><title>ng</title>",
    )
    .unwrap();
    std::fs::write(client.path().join("main.js"), "console.log(1)").unwrap();
    std::fs::write(client.path().join("x.wasm"), [0u8, 97, 115, 109]).unwrap();
    let dir = client.path().to_path_buf();
    let (s, _root) = server(move |st| st.neuroglancer_dir = Some(dir)).await;
    for (path, media, body) in [
        (
            "/neuroglancer/",
            "text/html",
            "<!doctype html><title>ng</title>",
        ),
        ("/neuroglancer/main.js", "text/javascript", "console.log(1)"),
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(media), "{path}: {ct}");
        assert_eq!(r.text().await.unwrap(), body);
    }
    let r = s.get("/neuroglancer/x.wasm").await;
    assert_eq!(r.headers()["content-type"], "application/wasm");
    for bad in [
        "/neuroglancer/missing.js",
        "/neuroglancer/%2e%2e/%2e%2e/etc/passwd",
        "/neuroglancer/.hidden",
    ] {
        assert_problem(s.get(bad).await, 404).await;
    }
    // The wheel's client wants a /v/<token>/ path: the same files are served there.
    let r = s.get("/neuroglancer/v/arrayd/main.js").await;
    assert_eq!(r.text().await.unwrap(), "console.log(1)");
    let r = s.get("/v1/arrays/raw/neuroglancer").await;
    let viewer = format!("{}/neuroglancer/v/arrayd/#!", s.base);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&viewer)
    );
    let r = s.get("/v1/neuroglancer?layers=raw,labels").await;
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&viewer)
    );
    // Its state event stream is open and silent (the state is in the URL fragment).
    let mut r = s.get("/neuroglancer/events/arrayd").await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(&r.chunk().await.unwrap().unwrap()[..], b": arrayd\n\n");
    // Without the flag there is no local client.
    let (plain, _r2) = server(|_| {}).await;
    let body = assert_problem(plain.get("/neuroglancer/").await, 404).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("--neuroglancer-dir")
    );
}

#[tokio::test]
async fn index_shows_a_card_per_array() {
    let (s, _root) = server(|_| {}).await;
    let html = s.get("/").await.text().await.unwrap();
    for name in ["raw", "labels", "annotated"] {
        assert!(
            html.contains(&format!(
                "<input type=checkbox name=layer value=\"{name}\">"
            )),
            "{name}"
        );
        assert!(
            html.contains(&format!("src=\"{}/v1/arrays/{name}/preview.png\"", s.base)),
            "{name}"
        );
        assert!(html.contains(&format!(
            "href=\"{}/v1/arrays/{name}/neuroglancer\"",
            s.base
        )));
    }
    assert_eq!(html.matches("<img loading=lazy").count(), 3);
    assert_eq!(html.matches("alt=\"middle z slice of").count(), 3);
    assert!(html.contains("width=90 height=70"), "raw's thumbnail size");
    assert!(
        html.contains(&format!(
            "curl -o roi.npy &#39;{}/v1/arrays/raw/roi?offset=80,52,92&amp;shape=320,256,256&#39;",
            s.base
        )),
        "{html}"
    );
    assert!(html.contains("data-href=\"") && html.contains("/v1/neuroglancer?layers="));
    assert!(!html.contains("<script>alert"), "nothing unescaped");
}
