//! `arrayd export NAME --to PATH_OR_URL`: evaluates a registered array (of a running
//! server, `--server URL`, or of a config file evaluated in-process, `--config FILE`)
//! block by block, in parallel, into a new OME-Zarr (a directory, or an `s3://`/`gs://`
//! prefix), with its stored levels. Resumable: chunks already in the destination are
//! skipped, so a killed export continues where it was.

mod progress;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use self::progress::Progress;
use crate::array::ArrayRef;
use crate::dtype::DType;
use crate::eval::read_roi;
use crate::geometry::{Coord, Roi};
use crate::server::{AppState, build_state, load};
use crate::settings::Settings;
use crate::storage::remote::is_url;
use crate::volume::Volume;
use crate::write::Container;
use crate::write::container::exists;
use crate::write::create::{CreateSpec, RoiSpec};
use crate::write::pyramid;

/// `arrayd export`.
#[derive(Debug, Clone, Args)]
pub struct Export {
    /// The registered array to export.
    pub name: String,
    /// Destination container: a directory (created) or an `s3://`/`gs://` URL; levels
    /// are `s0..` at its root.
    #[arg(long)]
    pub to: String,
    /// An `object_store` option for a URL destination, `KEY=VALUE` (as `serve
    /// --store-option`), over the `AWS_*`/`GOOGLE_*` environment; repeatable.
    #[arg(long = "store-option", value_parser = crate::settings::parse_option)]
    pub store_options: Vec<(String, String)>,
    /// Stored levels, `s0` included.
    #[arg(long, default_value_t = 1)]
    pub levels: usize,
    /// Chunk extent in voxels, z,y,x (default 64 per axis).
    #[arg(long, value_delimiter = ',')]
    pub chunk_shape: Option<Vec<i64>>,
    /// Read the array from this server (`http://host:port`).
    #[arg(long, conflicts_with = "config")]
    pub server: Option<String>,
    /// Read the array from configs in this file, evaluated here.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data root for `--config` sources.
    #[arg(long, default_value = ".")]
    pub data_root: PathBuf,
    /// Blocks in flight.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Afterwards, register the result at `--server` under this name (its `file_name`
    /// is `--to` as given, so give it relative to the server's data root).
    #[arg(long, requires = "server")]
    pub register: Option<String>,
}

/// Where blocks come from.
enum Source {
    Server {
        client: reqwest::Client,
        base: String,
    },
    Local(ArrayRef),
}

/// The geometry the export needs.
struct Shape {
    dtype: DType,
    channels: Option<usize>,
    voxel_size: Coord,
    roi: Roi,
}

fn num_list(v: &Value) -> Option<Vec<i64>> {
    v.as_array()?.iter().map(Value::as_i64).collect()
}

/// GETs `url`, turning a failure or a non-2xx answer into a message.
async fn get_ok(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, String> {
    let r = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if r.status().is_success() {
        Ok(r)
    } else {
        let status = r.status();
        Err(format!(
            "GET {url}: {status} {}",
            r.text().await.unwrap_or_default()
        ))
    }
}

impl Source {
    async fn shape(&self, name: &str) -> Result<Shape, String> {
        let meta = match self {
            Source::Server { client, base } => {
                let url = format!("{base}/v1/arrays/{name}");
                let r = get_ok(client, &url).await?;
                let v: Value = r.json().await.map_err(|e| format!("GET {url}: {e}"))?;
                v["metadata"].clone()
            }
            Source::Local(a) => a.meta().to_json(),
        };
        let bad = || format!("array {name:?} has unusable metadata: {meta}");
        Ok(Shape {
            dtype: meta["dtype"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .ok_or_else(bad)?,
            channels: meta["num_channels"]
                .as_u64()
                .and_then(|c| usize::try_from(c).ok()),
            voxel_size: Coord::new(num_list(&meta["voxel_size"]).ok_or_else(bad)?),
            roi: Roi::new(
                Coord::new(num_list(&meta["roi"]["offset"]).ok_or_else(bad)?),
                Coord::new(num_list(&meta["roi"]["shape"]).ok_or_else(bad)?),
            ),
        })
    }

    async fn read(
        &self,
        name: &str,
        roi: &Roi,
        shape: &Shape,
        state: &AppState,
    ) -> Result<Volume, String> {
        match self {
            Source::Local(a) => read_roi(&state.ctx, a, roi, None)
                .await
                .map_err(|e| e.to_string()),
            Source::Server { client, base } => {
                let list = |c: &Coord| {
                    c.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let url = format!(
                    "{base}/v1/arrays/{name}/roi?offset={}&shape={}&format=raw",
                    list(&roi.offset),
                    list(&roi.shape)
                );
                let r = get_ok(client, &url).await?;
                let body = r.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
                let dims: Vec<usize> = shape
                    .channels
                    .into_iter()
                    .chain((&roi.shape / &shape.voxel_size).to_usize())
                    .collect();
                Volume::from_le_bytes(shape.dtype, &dims, &body)
            }
        }
    }
}

/// A scratch state directory, removed when the export ends.
struct StateDir(PathBuf);

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs an export; the number of blocks written (skipped ones excluded).
///
/// # Errors
/// A source that cannot be read, a destination that cannot be written.
pub async fn run(args: Export) -> Result<usize, String> {
    let state_dir =
        StateDir(std::env::temp_dir().join(format!("arrayd-export-{}", std::process::id())));
    let mut settings = Settings::defaults();
    let container = if is_url(&args.to) {
        settings.allow_remote = vec![args.to.clone()];
        settings.store_options.clone_from(&args.store_options);
        args.to.trim_end_matches('/').to_owned()
    } else {
        let to = std::path::absolute(&args.to).map_err(|e| format!("--to: {e}"))?;
        let (Some(parent), Some(name)) = (to.parent(), to.file_name()) else {
            return Err(format!("--to {} must name a directory to create", args.to));
        };
        std::fs::create_dir_all(&to).map_err(|e| format!("--to {}: {e}", to.display()))?;
        settings.data_root = parent.to_path_buf();
        name.to_string_lossy().into_owned()
    };
    settings.state_dir = state_dir.0.to_path_buf();
    // `--config` sources resolve under `--data-root`, written data under `--to`'s parent.
    let source_state = match &args.config {
        Some(file) => {
            let mut s = Settings::defaults();
            s.data_root = args.data_root.clone();
            s.state_dir = state_dir.0.join("source");
            s.config = Some(file.clone());
            let st = build_state(s)?;
            load(&st).await?;
            Some(st)
        }
        None => None,
    };
    let state = build_state(settings)?;
    load(&state).await?;
    let source = open_source(&args, source_state.as_ref())?;
    let shape = source.shape(&args.name).await?;
    let store = Container::open(&state.env, &container, false)?.store;
    let resuming = tokio::task::spawn_blocking(move || exists(store.as_ref(), "s0"))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let dest = open_dest(&state, &args, &shape, &container, resuming).await?;
    let written = copy_blocks(&state, &args, &source, &shape, &dest, resuming).await?;
    if let Some(level) = dest.stored_levels().first() {
        // The first stored level's cells, each recomputed with everything coarser.
        let m = level.meta();
        for cell in m.grid.chunks_overlapping(&m.roi) {
            let roi = m.grid.chunk_roi(&cell).intersect(&m.roi);
            pyramid::update(&dest, &roi, &state.ctx)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    if let (Some(name), Some(base)) = (&args.register, &args.server) {
        register(base, name, &args.to).await?;
    }
    Ok(written)
}

fn open_source(args: &Export, local: Option<&AppState>) -> Result<Source, String> {
    Ok(match (&args.server, local) {
        (Some(base), _) => Source::Server {
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| e.to_string())?,
            base: base.trim_end_matches('/').to_owned(),
        },
        (None, Some(st)) => Source::Local(
            st.registry
                .get(&args.name)
                .map_err(|e| e.to_string())?
                .array()
                .map_err(|e| e.to_string())?
                .clone(),
        ),
        (None, None) => return Err("give --server URL or --config FILE".into()),
    })
}

/// The destination, created unless an export is resumed, open for writing.
async fn open_dest(
    state: &AppState,
    args: &Export,
    shape: &Shape,
    container: &str,
    resuming: bool,
) -> Result<ArrayRef, String> {
    let spec = CreateSpec {
        roi: RoiSpec {
            offset: shape.roi.offset.to_vec(),
            shape: shape.roi.shape.to_vec(),
        },
        voxel_size: shape.voxel_size.to_vec(),
        dtype: shape.dtype.name().to_owned(),
        num_channels: shape.channels.filter(|&c| c > 1),
        chunk_shape: args.chunk_shape.clone(),
        write_size: None,
        codec: None,
        overwrite: false,
        levels: Some(args.levels),
        zarr_format: None,
        units: None,
    };
    let mut config =
        json!({"type": "zarr", "file_name": container, "dataset": "s0", "writable": true});
    if !resuming {
        config["create"] = serde_json::to_value(&spec).map_err(|e| e.to_string())?;
        crate::views::write::create_for(state, "export", &config, false)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(o) = config.as_object_mut() {
            o.remove("create");
        }
    }
    state
        .registry
        .put("export", config, false)
        .await
        .map_err(|e| e.to_string())?;
    state
        .registry
        .get("export")
        .and_then(|e| e.array().cloned())
        .map_err(|e| e.to_string())
}

/// Evaluates and writes every chunk not yet in `to`; how many were written.
async fn copy_blocks(
    state: &AppState,
    args: &Export,
    source: &Source,
    shape: &Shape,
    dest: &ArrayRef,
    resuming: bool,
) -> Result<usize, String> {
    let writer = dest
        .writer()
        .cloned()
        .ok_or("the destination is not writable")?;
    let grid = dest.meta().grid.clone();
    let cells = grid.chunks_overlapping(&shape.roi);
    // Each chunk's presence asked of the store, many at once (HEADs in an object store).
    let todo: Vec<Coord> = stream::iter(cells)
        .map(|cell| {
            let writer = writer.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let have = writer.has_chunk(&cell).map_err(|e| e.to_string())?;
                    Ok::<_, String>((!have).then_some(cell))
                })
                .await
                .map_err(|e| e.to_string())?
            }
        })
        .buffer_unordered(args.jobs.max(1) * 4)
        .try_filter_map(|c| async move { Ok(c) })
        .try_collect()
        .await?;
    let progress = Progress::new(todo.len(), if resuming { "resumed" } else { "started" });
    let (progress, name) = (&progress, &args.name);
    let written = stream::iter(todo)
        .map(|cell| {
            let (writer, grid) = (writer.clone(), &grid);
            async move {
                let roi = grid.chunk_roi(&cell).intersect(&shape.roi);
                let mut data = source.read(name, &roi, shape, state).await?;
                if shape.channels == Some(1) {
                    // One channel is stored without a c axis.
                    let spatial = data.shape()[1..].to_vec();
                    data = data.reshaped(&spatial)?;
                }
                writer
                    .write(&roi, Arc::new(data), &state.ctx)
                    .await
                    .map_err(|e| e.to_string())?;
                progress.tick();
                Ok::<_, String>(1usize)
            }
        })
        .buffer_unordered(args.jobs.max(1))
        .try_fold(0, |n, one| async move { Ok(n + one) })
        .await?;
    progress.finish();
    Ok(written)
}

/// Registers the exported array at the server as `name`.
async fn register(base: &str, name: &str, to: &str) -> Result<(), String> {
    let url = format!("{}/v1/arrays/{name}", base.trim_end_matches('/'));
    let body = json!({"type": "zarr", "file_name": to, "dataset": "s0"});
    let r = reqwest::Client::new()
        .put(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("PUT {url}: {e}"))?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "PUT {url}: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        ))
    }
}
