//! The conformance harness: resolve a config without a server, and the checks every
//! array type must pass (metadata = read, chunk borders, out of bounds vs fill), plus a
//! source that counts reads per grid cell.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrayd::array::config::parse;
use arrayd::array::resolve::{Lookup, ResolveEnv, resolve};
use arrayd::array::{Array, ArrayRef, ConfigHash, Freshness, Metadata};
use arrayd::cache::ChunkCache;
use arrayd::compute::Compute;
use arrayd::dtype::DType;
use arrayd::dvid::DvidPool;
use arrayd::eval::{EvalError, ReadCtx, read_roi};
use arrayd::geometry::{Coord, Roi};
use arrayd::grid::ChunkGrid;
use arrayd::metrics::Metrics;
use arrayd::recycle::Recycler;
use arrayd::settings::Settings;
use arrayd::storage::DataRoot;
use arrayd::storage::remote::Remotes;
use arrayd::volume::Volume;
use async_trait::async_trait;
use serde_json::{Map, Value, json};

/// Resolution environment over `root`.
pub fn env(root: &Path) -> ResolveEnv {
    let s = Settings::defaults();
    let metrics = Arc::new(Metrics::new());
    ResolveEnv {
        data_root: Arc::new(DataRoot::open(root).unwrap()),
        demo_root: None,
        dvid: Arc::new(DvidPool::from_env(metrics.clone()).unwrap()),
        limits: s.limits(),
        remotes: Arc::new(Remotes::new(
            s.allow_remote.clone(),
            s.store_options,
            metrics.clone(),
        )),
        metrics,
        writes: Arc::default(),
    }
}

/// A fresh read context with its own (empty) cache.
pub fn ctx() -> ReadCtx {
    let metrics = Arc::new(Metrics::new());
    ReadCtx {
        cache: ChunkCache::new(512 << 20, metrics.clone()),
        compute: Compute::new(2, Duration::from_secs(30), 128),
        metrics,
        fanout: 4,
        limits: Settings::defaults().limits(),
        recycle: Recycler::default(),
    }
}

/// Named arrays for string references.
#[derive(Default)]
pub struct Names(pub HashMap<String, ArrayRef>);

impl Lookup for Names {
    fn lookup(&self, name: &str) -> Result<ArrayRef, String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no array named {name}"))
    }
}

/// Parses and resolves `config`; panics naming every problem.
pub async fn open(config: &Value, env: &ResolveEnv, names: &Names) -> ArrayRef {
    let node = parse(config).unwrap_or_else(|p| panic!("parse {config}: {p:?}"));
    resolve(&node, "", env, names)
        .await
        .unwrap_or_else(|p| panic!("resolve {config}: {p:?}"))
}

/// Resolves every entry of a registry document (any order of dependencies).
pub async fn open_registry(registry: &Value, env: &ResolveEnv, names: &mut Names) {
    let mut pending: Vec<(&String, &Value)> = registry.as_object().unwrap().iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for (name, config) in pending {
            let node = parse(config).unwrap();
            match resolve(&node, "", env, names).await {
                Ok(a) => {
                    names.0.insert(name.clone(), a);
                }
                Err(_) => rest.push((name, config)),
            }
        }
        assert!(
            rest.len() < before,
            "registry entries never resolve: {rest:?}"
        );
        pending = rest;
    }
}

/// A read that must succeed.
pub async fn read(ctx: &ReadCtx, a: &ArrayRef, roi: &Roi) -> Volume {
    read_roi(ctx, a, roi, None)
        .await
        .unwrap_or_else(|e| panic!("read {roi}: {e}"))
}

/// Voxel index of world point `p` in a volume read at `roi` (channel 0 first).
pub fn index_of(m: &Metadata, roi: &Roi, p: &Coord) -> Vec<usize> {
    let spatial = (&(p - &roi.offset) / &m.voxel_size).to_usize();
    m.num_channels
        .map(|_| 0)
        .into_iter()
        .chain(spatial)
        .collect()
}

/// The voxels of `part` (inside `whole_roi`) cut out of `whole`.
pub fn cut(m: &Metadata, whole: &Volume, whole_roi: &Roi, part: &Roi) -> Volume {
    whole
        .crop(&index_of(m, whole_roi, &part.offset), &m.volume_shape(part))
        .unwrap()
}

/// A deterministic xorshift generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        i64::try_from(self.0 % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}

/// A random non-empty voxel-aligned ROI inside `m.roi`.
pub fn random_sub_roi(m: &Metadata, rng: &mut Rng) -> Roi {
    let voxels = m.roi.shape.div_floor(&m.voxel_size).to_vec();
    let (mut begin, mut size) = (Vec::new(), Vec::new());
    for &n in &voxels {
        let b = rng.below(n);
        begin.push(b);
        size.push(1 + rng.below(n - b));
    }
    Roi::new(
        &m.roi.offset + &(&Coord::new(begin) * &m.voxel_size),
        &Coord::new(size) * &m.voxel_size,
    )
}

/// What one case's checks counted.
#[derive(Debug, Default)]
pub struct Tally {
    pub assertions: usize,
}

impl Tally {
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.assertions += 1;
        assert!(ok, "{}", what());
    }
}

/// Metadata equals what reads return: dtype, shape and channels of a whole-ROI read and
/// of a random sub-ROI read (which also equals the same voxels of the whole read).
pub async fn check_metadata(case: &str, a: &ArrayRef, whole: &Volume, seed: u64, t: &mut Tally) {
    let m = a.meta();
    let ctx = ctx();
    for (roi, got) in [(m.roi.clone(), whole.clone()), {
        let roi = random_sub_roi(m, &mut Rng(seed | 1));
        let got = read(&ctx, a, &roi).await;
        (roi, got)
    }] {
        t.check(got.dtype() == m.dtype, || {
            format!(
                "{case}: read of {roi} is {} but metadata says {}",
                got.dtype(),
                m.dtype
            )
        });
        t.check(got.shape() == m.volume_shape(&roi).as_slice(), || {
            format!(
                "{case}: read of {roi} has shape {:?}, metadata says {:?}",
                got.shape(),
                m.volume_shape(&roi)
            )
        });
        let channels = m.num_channels.map(|_| got.shape()[0]);
        t.check(channels == m.num_channels, || {
            format!(
                "{case}: {channels:?} channels read, {:?} declared",
                m.num_channels
            )
        });
        t.check(got == cut(m, whole, &m.roi, &roi), || {
            format!("{case}: read of {roi} differs from the same voxels of the whole read")
        });
    }
}

/// A ROI straddling chunk borders equals the whole read's voxels, and single-chunk
/// reads tile the whole read exactly.
pub async fn check_chunks(case: &str, a: &ArrayRef, whole: &Volume, t: &mut Tally) {
    let m = a.meta();
    let ctx = ctx();
    let cells = m.grid.chunks_overlapping(&m.roi);
    // From the middle of the first chunk to the middle of the next one on every axis.
    let first = m.grid.chunk_roi(&cells[0]).intersect(&m.roi);
    let half = (&first.shape / &Coord::splat(2, m.dims()))
        .div_floor(&m.voxel_size)
        .zip_with(&m.voxel_size, |v, s| v * s);
    let begin = &first.offset + &half;
    let end = (&first.end() + &first.shape).min(&m.roi.end());
    let straddle = Roi::from_bounds(begin, &end);
    if !straddle.is_empty() {
        let got = read(&ctx, a, &straddle).await;
        t.check(got == cut(m, whole, &m.roi, &straddle), || {
            format!("{case}: straddling ROI {straddle} differs from the whole read")
        });
    }
    let mut tiled = Volume::zeros(m.dtype, whole.shape());
    for idx in &cells {
        let tile = m.grid.chunk_roi(idx).intersect(&m.roi);
        let got = read(&ctx, a, &tile).await;
        tiled
            .paste(&got, &index_of(m, &m.roi, &tile.offset))
            .unwrap();
    }
    t.check(tiled == *whole, || {
        format!(
            "{case}: {} single-chunk reads do not tile the whole read",
            cells.len()
        )
    });
}

/// Outside the ROI without fill is `OutOfBounds`; with fill the outside is the fill and
/// the inside equals the plain read.
pub async fn check_fill(case: &str, a: &ArrayRef, whole: &Volume, t: &mut Tally) {
    let m = a.meta();
    let ctx = ctx();
    let grown = m.roi.grow(&m.voxel_size, &m.voxel_size);
    let err = read_roi(&ctx, a, &grown, None).await;
    t.check(matches!(err, Err(EvalError::OutOfBounds { .. })), || {
        format!("{case}: read of {grown} outside {} gave {err:?}", m.roi)
    });
    let text = if m.dtype == DType::Bool { "true" } else { "1" };
    let fill = &arrayd::volume::Fill::parse(m.dtype, text).unwrap();
    let got = read_roi(&ctx, a, &grown, Some(fill)).await.unwrap();
    let mut want = Volume::full(m.dtype, &m.volume_shape(&grown), text).unwrap();
    want.paste(whole, &index_of(m, &grown, &m.roi.offset))
        .unwrap();
    t.check(got == want, || {
        format!("{case}: filled read of {grown} is not fill {text} around the plain read")
    });
    // Partly outside: only one corner past the ROI.
    let corner = Roi::new(
        &m.roi.end() - &m.voxel_size,
        &m.voxel_size * &Coord::splat(2, m.dims()),
    );
    let got = read_roi(&ctx, a, &corner, Some(fill)).await.unwrap();
    let mut want = Volume::full(m.dtype, &m.volume_shape(&corner), text).unwrap();
    let last = Roi::new(&m.roi.end() - &m.voxel_size, m.voxel_size.clone());
    want.paste(
        &cut(m, whole, &m.roi, &last),
        &index_of(m, &corner, &last.offset),
    )
    .unwrap();
    t.check(got == want, || {
        format!("{case}: filled corner read {corner} is wrong")
    });
}

/// Every check on one array.
pub async fn conform(case: &str, a: &ArrayRef, seed: u64) -> Tally {
    let mut t = Tally::default();
    let whole = read(&ctx(), a, &a.meta().roi).await;
    check_metadata(case, a, &whole, seed, &mut t).await;
    check_chunks(case, a, &whole, &mut t).await;
    check_fill(case, a, &whole, &mut t).await;
    t
}

/// A uint8 label source on a 16³-voxel grid that counts reads per grid cell.
#[derive(Debug)]
pub struct Counting {
    meta: Metadata,
    counts: Vec<AtomicUsize>,
    cells: Coord,
}

/// The value the counting source stores at voxel (z, y, x).
pub fn counting_value(p: &[i64]) -> u8 {
    u8::try_from((p[0] * 7 + p[1] * 3 + p[2]).rem_euclid(9)).unwrap()
}

impl Counting {
    /// A source of `voxels` (z,y,x) at offset 0, voxel size 1, 16³ chunks.
    pub fn new(voxels: [i64; 3], attrs: Map<String, Value>) -> Arc<Self> {
        let vs = Coord::splat(1, 3);
        let roi = Roi::new(Coord::splat(0, 3), Coord::new(voxels.to_vec()));
        let grid = ChunkGrid::from_voxels(Coord::splat(0, 3), &Coord::splat(16, 3), &vs);
        let cells = Coord::new(voxels.to_vec()).div_ceil(&Coord::splat(16, 3));
        let n = usize::try_from(cells.product()).unwrap();
        Arc::new(Self {
            meta: Metadata {
                type_name: "counting",
                dtype: DType::U8,
                num_channels: None,
                voxel_size: vs,
                roi,
                grid,
                attrs,
                hash: ConfigHash::of(&json!({"counting": voxels})),
                labels: true,
                cache: true,
                freshness: Freshness::Immutable,
                depth: 1,
                writable: false,
                mutable: false,
            },
            counts: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            cells,
        })
    }

    /// The source's ROI.
    pub fn meta_roi(&self) -> Roi {
        self.meta.roi.clone()
    }

    /// The source's 16³ grid.
    pub fn grid(&self) -> &ChunkGrid {
        &self.meta.grid
    }

    /// Reads of each grid cell so far, z-major.
    pub fn counts(&self) -> Vec<usize> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .collect()
    }

    /// The grid cell number of cell index `idx`.
    pub fn cell_number(&self, idx: &Coord) -> usize {
        let (c, i) = (self.cells.to_vec(), idx.to_vec());
        usize::try_from((i[0] * c[1] + i[1]) * c[2] + i[2]).unwrap()
    }
}

#[async_trait]
impl Array for Counting {
    fn meta(&self) -> &Metadata {
        &self.meta
    }

    async fn read(&self, roi: &Roi, _ctx: &ReadCtx) -> Result<Volume, EvalError> {
        for idx in self.meta.grid.chunks_overlapping(roi) {
            self.counts[self.cell_number(&idx)].fetch_add(1, Ordering::SeqCst);
        }
        let (o, s) = (roi.offset.to_vec(), roi.shape.to_vec());
        let mut bytes = Vec::new();
        for z in o[0]..o[0] + s[0] {
            for y in o[1]..o[1] + s[1] {
                for x in o[2]..o[2] + s[2] {
                    bytes.push(counting_value(&[z, y, x]));
                }
            }
        }
        Volume::from_le_bytes(DType::U8, &self.meta.volume_shape(roi), &bytes)
            .map_err(EvalError::Internal)
    }
}
