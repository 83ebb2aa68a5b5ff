//! `GET /`: a small HTML page listing every array with its metadata and links.

use std::fmt::Write;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;

use crate::server::AppState;
use crate::views::base_url;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The index page.
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Html<String> {
    let base = base_url(&state, &headers);
    let mut rows = String::new();
    for entry in state.registry.list() {
        let name = escape(&entry.name);
        let a = format!("{base}/v1/arrays/{name}");
        let cells = match &entry.state {
            Ok(array) => {
                let m = array.meta();
                format!(
                    "<td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td>",
                    m.type_name,
                    m.dtype,
                    m.axes().join(","),
                    m.shape(),
                    m.voxel_size,
                    escape(&m.roi.to_string()),
                )
            }
            Err(reason) => format!("<td colspan=6>unavailable: {}</td>", escape(reason)),
        };
        let _ = write!(
            rows,
            "<tr><td><a href=\"{a}\">{name}</a></td>{cells}<td><a href=\"{a}/neuroglancer\">neuroglancer</a> \
             <a href=\"{a}/roi\">roi</a></td></tr>"
        );
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>arrayd</title>\
         <style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style></head>\
         <body><h1>arrayd</h1><p>{} arrays. API: <a href=\"{base}/v1/arrays\">/v1/arrays</a></p>\
         <table><tr><th>name</th><th>type</th><th>dtype</th><th>axes</th><th>shape</th><th>voxel size</th>\
         <th>roi (world)</th><th>views</th></tr>{rows}</table></body></html>",
        state.registry.list().len()
    ))
}
