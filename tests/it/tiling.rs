//! Tile independence (`spec/arrays.md`): for random chains of every type over the golden
//! volumes and random ROIs, the values do not depend on how the work is cut. The same
//! chain is registered twice, once evaluated as one big chunk and once with a small
//! random chunk shape (so every wrapper sees small, unaligned requests), and a ROI read
//! whole from the first must equal the same ROI stitched from random tiles of the second.

use std::sync::OnceLock;

use crate::support::TestServer;
use arrayd::eval::read_roi;
use arrayd::geometry::{Coord, Roi};
use arrayd::volume::Volume;
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Integer, no channel axis.
    Labels,
    /// Any dtype, no channel axis.
    Image,
    /// A channel axis.
    Channels,
}

fn source(pick: u8) -> (Value, Kind) {
    let z = |file: &str, ds: &str| json!({"type": "zarr", "name": ds, "file_name": file, "dataset": ds});
    match pick % 4 {
        0 => (z("data/raw.zarr", "raw"), Kind::Image),
        1 => (z("data/labels.zarr", "labels"), Kind::Labels),
        2 => (z("data/labels.zarr", "labels_annotated"), Kind::Labels),
        _ => (z("data/mask.zarr", "mask"), Kind::Channels),
    }
}

/// Wraps `inner` in one wrapper chosen by `pick` among those valid for its kind.
fn wrap(inner: (Value, Kind), pick: u8, n: usize) -> (Value, Kind) {
    let (src, kind) = inner;
    let name = format!("n{n}");
    let one = |t: &str, extra: Value| {
        let mut v = json!({"type": t, "name": name, "source_array_config": src});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let crop = || {
        one(
            "crop",
            json!({"roi": {"offset": [16, 16, 16], "shape": [32, 64, 96]}}),
        )
    };
    let smooth = |order: u8| {
        one(
            "resampled",
            json!({"upsample": [1, 2, 1], "downsample": [2, 1, 2], "interp_order": order}),
        )
    };
    match (kind, pick % 6) {
        (Kind::Labels, 0) => (
            one("binarize", json!({"groupings": [["a", [1, 2]], ["b", []]]})),
            Kind::Channels,
        ),
        (Kind::Labels, 1) => (
            one(
                "missing_annotations_mask",
                json!({"groupings": [["a", [1, 3]], ["b", [4]]]}),
            ),
            Kind::Channels,
        ),
        (Kind::Labels, 2) => (
            json!({"type": "merge_instances", "name": name, "source_array_configs": [src.clone(), src]}),
            Kind::Labels,
        ),
        (Kind::Labels, 3) => (
            json!({"type": "sum", "name": name, "source_array_configs": [src.clone(), src]}),
            Kind::Labels,
        ),
        (Kind::Labels, 4) => (
            one(
                "resampled",
                json!({"upsample": 2, "downsample": 1, "interp_order": 0}),
            ),
            Kind::Labels,
        ),
        (Kind::Labels, _) => (crop(), Kind::Labels),
        (Kind::Image, 0) => (
            one("intensities", json!({"min": 10, "max": 200})),
            Kind::Image,
        ),
        (Kind::Image, 1) => (smooth(1), Kind::Image),
        (Kind::Image, 2) => (smooth(3), Kind::Image),
        (Kind::Image, 3) => (one("constant", json!({"constant": 3})), Kind::Labels),
        (Kind::Image, 4) => (
            json!({"type": "concat", "name": name, "channels": ["x", "y"], "source_array_configs": {"y": src}}),
            Kind::Channels,
        ),
        (Kind::Image, _) => (crop(), Kind::Image),
        (Kind::Channels, 0) => (one("logical_or", json!({})), Kind::Labels),
        (Kind::Channels, 1) => (one("ones", json!({})), Kind::Channels),
        (Kind::Channels, 2) => (
            one("intensities", json!({"min": 0, "max": 255})),
            Kind::Channels,
        ),
        (Kind::Channels, 3) => (
            one(
                "resampled",
                json!({"upsample": 1, "downsample": 2, "interp_order": 0}),
            ),
            Kind::Channels,
        ),
        (Kind::Channels, 4) => (smooth(2), Kind::Channels),
        (Kind::Channels, _) => (crop(), Kind::Channels),
    }
}

fn runtime() -> &'static (tokio::runtime::Runtime, TestServer) {
    static RT: OnceLock<(tokio::runtime::Runtime, TestServer)> = OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(TestServer::golden());
        (rt, server)
    })
}

/// Splits `[0, n)` at the given fractions (voxel units, aligned).
fn cuts(n: i64, fracs: &[u8]) -> Vec<i64> {
    let mut c: Vec<i64> = fracs
        .iter()
        .map(|&f| i64::from(f) * n / 256)
        .filter(|&v| v > 0 && v < n)
        .collect();
    c.push(0);
    c.push(n);
    c.sort_unstable();
    c.dedup();
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn chains_do_not_depend_on_tiling(
        base in 0u8..4,
        wrappers in prop::collection::vec(0u8..6, 1..4),
        chunk in prop::array::uniform3(1i64..9),
        roi_frac in prop::array::uniform3((0u8..=255, 1u8..=255)),
        tile_fracs in prop::array::uniform3(prop::collection::vec(0u8..=255, 0..3)),
    ) {
        let (rt, s) = runtime();
        let mut node = source(base);
        for (i, w) in wrappers.iter().enumerate() {
            node = wrap(node, *w, i);
        }
        let mut config = node.0;
        config.as_object_mut().unwrap().remove("name");
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut whole_cfg = config.clone();
        whole_cfg["chunk_shape"] = json!([512, 512, 512]);
        let mut tiled_cfg = config.clone();
        tiled_cfg["chunk_shape"] = json!(chunk);
        // Some random stacks are refused (e.g. resampling below an integer voxel size):
        // the property is about chains that register.
        let registered = rt.block_on(async {
            let a = s.state.registry.put(&format!("whole{id}"), whole_cfg, false).await.ok()?.entry;
            let b = s.state.registry.put(&format!("tiled{id}"), tiled_cfg, false).await.ok()?.entry;
            Some((a.array().ok()?.clone(), b.array().ok()?.clone()))
        });
        prop_assume!(registered.is_some(), "chain refused at registration");
        let Some((a, b)) = registered else { return Ok(()) };
        rt.block_on(async {
            let m = a.meta();
            let vs = &m.voxel_size;
            let n = &m.roi.shape / vs;
            // A random sub-ROI (voxel-aligned) of the array.
            let begin: Vec<i64> = (0..3).map(|d| i64::from(roi_frac[d].0) * (n[d] - 1) / 255).collect();
            let len: Vec<i64> = (0..3).map(|d| (i64::from(roi_frac[d].1) * (n[d] - begin[d]) / 255).max(1)).collect();
            let roi = Roi::new(&m.roi.offset + &(&Coord::new(begin) * vs), &Coord::new(len.clone()) * vs);
            let whole = read_roi(&s.state.ctx, &a, &roi, None).await.unwrap();
            let mut stitched = Volume::zeros(whole.dtype(), whole.shape());
            let lead: Vec<usize> = m.num_channels.map(|_| 0).into_iter().collect();
            let c: Vec<Vec<i64>> = (0..3).map(|d| cuts(len[d], &tile_fracs[d])).collect();
            for z in c[0].windows(2) {
                for y in c[1].windows(2) {
                    for x in c[2].windows(2) {
                        let lo = Coord::from([z[0], y[0], x[0]]);
                        let size = Coord::from([z[1] - z[0], y[1] - y[0], x[1] - x[0]]);
                        let tile = Roi::new(&roi.offset + &(&lo * vs), &size * vs);
                        let part = read_roi(&s.state.ctx, &b, &tile, None).await.unwrap();
                        let at: Vec<usize> = lead.iter().copied().chain(lo.to_usize()).collect();
                        stitched.paste(&part, &at).unwrap();
                    }
                }
            }
            assert!(stitched == whole, "chain {config} differs between whole and tiled evaluation over {roi}");
        });
    }
}
