//! `GET /`: every array as a card: a thumbnail (`preview.png`), metadata, the chain
//! below it as a small tree, links to each view and a copyable `curl` for a ROI;
//! checkboxes pick arrays for one combined neuroglancer view. Server-rendered HTML with
//! a little inline CSS and vanilla JS (no build step); every name is escaped.

use std::fmt::Write;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;
use serde_json::Value;

use crate::array::{ArrayRef, chain_tree};
use crate::levels::Levels;
use crate::registry::Entry;
use crate::server::AppState;
use crate::views::base_url;

const CSS: &str = include_str!("index.css");
const JS: &str = include_str!("index.js");

/// Voxels per axis of the example ROI in each card's `curl`.
const CURL_VOXELS: i64 = 64;

/// `s` with HTML's special characters escaped (text and attribute values).
#[must_use]
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// What a path segment keeps unencoded besides letters and digits (RFC 3986 unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` percent-encoded for a URL path segment.
fn url_part(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// The chain tree of `GET /v1/arrays/{name}` as nested lists.
fn chain_html(node: &Value, out: &mut String) {
    let field = |k: &str| node[k].as_str().unwrap_or_default().to_owned();
    let _ = write!(
        out,
        "<li><b>{}</b> {} {}",
        escape(&field("type")),
        escape(&field("dtype")),
        escape(&node["axes"].as_array().map_or_else(String::new, |a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("")
        }))
    );
    if let Some(sources) = node["sources"].as_array().filter(|s| !s.is_empty()) {
        out.push_str("<ul>");
        for s in sources {
            chain_html(s, out);
        }
        out.push_str("</ul>");
    }
    out.push_str("</li>");
}

/// Width and height of the default thumbnail (the z slice of its level).
fn thumb_size(levels: &Levels) -> (i64, i64) {
    let side = crate::views::preview::PREVIEW_SIDE;
    let l = levels
        .levels
        .iter()
        .find(|l| l.size[1] <= side && l.size[2] <= side)
        .or(levels.levels.last());
    l.map_or((side, side), |l| (l.size[2], l.size[1]))
}

/// A `curl` for a ROI of up to [`CURL_VOXELS`] per axis at the array's centre.
fn curl(a: &str, array: &ArrayRef) -> String {
    let m = array.meta();
    let vs = &m.voxel_size;
    let (mut offset, mut shape) = (Vec::new(), Vec::new());
    for d in 0..vs.dims() {
        let (o, s, v) = (m.roi.offset[d], m.roi.shape[d], vs[d]);
        let want = (CURL_VOXELS * v).min(s);
        let start = o + ((s - want) / 2).div_euclid(v) * v;
        offset.push(start.to_string());
        shape.push(want.to_string());
    }
    format!(
        "curl -o roi.npy '{a}/roi?offset={}&shape={}'",
        offset.join(","),
        shape.join(",")
    )
}

/// The metadata list of an opened array.
fn meta_html(array: &ArrayRef, levels: &Levels) -> String {
    let m = array.meta();
    let mut rows = vec![
        ("type", m.type_name.to_owned()),
        ("dtype", m.dtype.to_string()),
        ("shape", format!("{:?} ({})", m.shape(), m.axes().join(","))),
        ("voxel size", m.voxel_size.to_string()),
        ("offset", m.roi.offset.to_string()),
        ("levels", levels.levels.len().to_string()),
        (
            "kind",
            if levels.segmentation {
                "segmentation"
            } else {
                "image"
            }
            .to_owned(),
        ),
    ];
    if let Some(names) = m.attrs.get("channel_names").and_then(Value::as_array) {
        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
        rows.push(("channels", names.join(", ")));
    }
    let mut out = String::from("<dl>");
    for (k, v) in rows {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", escape(&v));
    }
    out.push_str("</dl>");
    out
}

/// One card.
fn card(base: &str, entry: &Entry, i: usize) -> String {
    let name = escape(&entry.name);
    let a = format!("{base}/v1/arrays/{}", url_part(&entry.name));
    let (Ok(array), Some(levels)) = (&entry.state, &entry.levels) else {
        let reason = entry.state.as_ref().err().map_or("", String::as_str);
        return format!(
            "<article class=\"card unavailable\"><h2>{name}</h2><p class=error>unavailable: {}</p>\
             <nav class=links><a href=\"{a}\">config</a></nav></article>",
            escape(reason)
        );
    };
    let (w, h) = thumb_size(levels);
    let mut chain = String::from("<ul>");
    chain_html(&chain_tree(array), &mut chain);
    chain.push_str("</ul>");
    let curl = escape(&curl(&a, array));
    let precomputed = escape(&format!("precomputed://{a}/precomputed"));
    format!(
        "<article class=card>\
         <label class=pick><input type=checkbox name=layer value=\"{name}\"><h2>{name}</h2></label>\
         <a class=thumb href=\"{a}/neuroglancer\" title=\"open {name} in neuroglancer\">\
         <img loading=lazy src=\"{a}/preview.png\" width={w} height={h} alt=\"middle z slice of {name}\"></a>\
         {meta}\
         <details><summary>chain</summary>{chain}</details>\
         <nav class=links aria-label=\"views of {name}\"><a href=\"{a}/neuroglancer\">neuroglancer</a>\
         <a href=\"{a}/precomputed/info\" title=\"{precomputed}\">precomputed</a>\
         <a href=\"{a}/zarr/zarr.json\">zarr</a><a href=\"{a}/ome-zarr/zarr.json\">OME-Zarr</a>\
         <a href=\"{a}\">metadata</a></nav>\
         <div class=curl><code id=curl{i}>{curl}</code>\
         <button type=button class=copy data-target=curl{i} aria-label=\"copy the curl command for {name}\">copy</button></div>\
         </article>",
        meta = meta_html(array, levels),
    )
}

/// The index page.
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Html<String> {
    let base = base_url(&state, &headers);
    let entries = state.registry.list();
    let cards: String = entries
        .iter()
        .enumerate()
        .map(|(i, e)| card(&base, e, i))
        .collect();
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>arrayd</title><style>{CSS}</style></head><body>\
         <header class=top><h1>arrayd</h1><p>{n} arrays · API: <a href=\"{base}/v1/arrays\">/v1/arrays</a></p>\
         <div class=actions><button type=button id=open-combined class=primary \
         data-href=\"{base}/v1/neuroglancer?layers=\" disabled>Open in neuroglancer</button></div></header>\
         <main>{cards}</main><script>{JS}</script></body></html>",
        n = entries.len(),
    ))
}
