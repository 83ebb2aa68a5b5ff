//! `dvid`: a DVID data instance as an array (`spec/arrays.md`, "dvid"; `spec/dvid.md`).
//! At registration the version reference is pinned to a full node UUID and the
//! instance's `/info` gives the geometry (z,y,x, `MaxPoint` inclusive, grid =
//! `BlockSize`); `Base.TypeName` picks the read path. The pinned UUID and lock state are
//! attributes, so they are part of the config hash and of every ETag; a locked node is
//! immutable, an open one is fresh for a short time. Labelmap scales above `scale` are
//! the array's [`Array::stored_levels`]; a grayscale instance's are the instances
//! `NAME_1`, `NAME_2`, ... DVID keeps its pyramid in.
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "dvid", "name": "seg",
//!     "source": ["http://emdata.example:8000", "a7b3:master", "segmentation"],
//!     "scale": 1, "supervoxels": true, "timeout_ms": 10000})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Dvid(_)));
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, json};

use super::resolve::{MetaParts, NodeCtx};
use super::{Array, ArrayRef, FieldProblem, Freshness, Metadata};
use crate::dvid::client::{DvidClient, Secret, segment};
use crate::dvid::error::DvidError;
use crate::dvid::info::{InstanceInfo, Kind, parse_info};
use crate::dvid::read::Reader;
use crate::dvid::uuid::{self, ResolveError};
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::{Box3, Coord, Roi};
use crate::grid::ChunkGrid;
use crate::volume::Volume;

/// Per-request timeout when the config gives none.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Seconds responses over an open (uncommitted) node stay fresh.
pub const OPEN_NODE_MAX_AGE: u32 = 10;

/// `source`: `[server, uuid, instance]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "[String; 3]")]
pub struct DvidSource {
    /// `http(s)://host:port` of the DVID server.
    pub server: String,
    /// A node UUID, a unique prefix, `prefix:branch[~N]` or `:master`.
    pub uuid: String,
    /// The data instance name.
    pub instance: String,
}

impl From<[String; 3]> for DvidSource {
    fn from([server, uuid, instance]: [String; 3]) -> Self {
        Self {
            server,
            uuid,
            instance,
        }
    }
}

/// Config fields of `dvid`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DvidConfig {
    /// Server, version and instance.
    pub source: DvidSource,
    /// Labelmap scale to read (0 = full resolution).
    #[serde(default)]
    pub scale: u32,
    /// Read unmapped supervoxel ids (labelmap only).
    #[serde(default)]
    pub supervoxels: bool,
    /// Bearer token (else `ARRAYD_DVID_TOKEN`).
    #[serde(default)]
    pub token: Option<Secret>,
    /// Per-request timeout in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Instances `NAME_k` probed as a grayscale instance's stored levels (a 2^16 pyramid).
const MAX_STORED_INSTANCES: u32 = 16;

/// A DVID instance at one scale.
#[derive(Debug)]
pub struct Dvid {
    meta: Metadata,
    reader: Reader,
    levels: Vec<ArrayRef>,
}

/// Which config field an upstream failure during registration concerns.
fn stage_field(e: &DvidError, otherwise: &'static str) -> &'static str {
    match e {
        DvidError::Status {
            status: 401 | 403, ..
        } => "token",
        e if e.is_client_error() => otherwise,
        _ => "source[0]",
    }
}

/// Config options the instance's type lacks.
fn option_problems(cfg: &DvidConfig, info: &InstanceInfo, ctx: &NodeCtx<'_>) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    if cfg.scale > 0 && !info.kind.is_labels() {
        problems.push(ctx.problem(
            "scale",
            format!(
                "{} instances have one scale; DVID keeps grayscale pyramids as separate instances",
                info.type_name
            ),
        ));
    } else if cfg.scale > info.max_downres_level {
        problems.push(ctx.problem(
            "scale",
            format!(
                "is {} but the instance's MaxDownresLevel is {}",
                cfg.scale, info.max_downres_level
            ),
        ));
    }
    if cfg.supervoxels && info.kind == Kind::Grayscale {
        problems.push(ctx.problem("supervoxels", "applies to labelmap instances only"));
    }
    problems
}

impl Dvid {
    /// Pins the node, reads `/info` and builds this scale and the coarser ones.
    ///
    /// # Errors
    /// A bad server URL or reference, an unreachable or refusing server, an unknown or
    /// unsupported instance, `null` extents, or options the instance's type lacks.
    pub async fn resolve(cfg: &DvidConfig, ctx: &NodeCtx<'_>) -> Result<Self, Vec<FieldProblem>> {
        let one = |field: &str, reason: String| vec![ctx.problem(field, reason)];
        let timeout_ms = cfg.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 {
            return Err(one(
                "timeout_ms",
                "must be a positive number of milliseconds".into(),
            ));
        }
        let src = &cfg.source;
        let client = ctx
            .env
            .dvid
            .client(
                &src.server,
                cfg.token.as_ref(),
                Duration::from_millis(timeout_ms),
            )
            .map_err(|r| one("source[0]", r))?;
        let node = uuid::resolve(&client, &src.uuid)
            .await
            .map_err(|e| match e {
                ResolveError::Ref(r) => one("source[1]", format!("version {:?}: {r}", src.uuid)),
                ResolveError::Upstream(e) => one(stage_field(&e, "source[1]"), e.to_string()),
            })?;
        let info_path = format!(
            "/api/node/{}/{}/info",
            segment(&node.uuid),
            segment(&src.instance)
        );
        let info = client
            .get_json(&info_path)
            .await
            .map_err(|e| one(stage_field(&e, "source[2]"), e.to_string()))?;
        let info = parse_info(&info).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| ctx.problem("source[2]", format!("instance {:?}: {p}", src.instance)))
                .collect::<Vec<_>>()
        })?;
        let problems = option_problems(cfg, &info, ctx);
        if !problems.is_empty() {
            return Err(problems);
        }
        let shared = Shared {
            client,
            uuid: node.uuid,
            locked: node.locked,
            instance: src.instance.clone(),
            supervoxels: cfg.supervoxels,
            info,
        };
        if shared.info.kind == Kind::Grayscale {
            let coarser = shared.stored_instances(ctx).await;
            return shared.level(0, coarser, ctx);
        }
        // Coarser scales, finest first; each holds the ones coarser than itself.
        let mut coarser: Vec<ArrayRef> = Vec::new();
        for scale in (cfg.scale + 1..=shared.info.max_downres_level).rev() {
            let level: ArrayRef = Arc::new(shared.level(scale, coarser.clone(), ctx)?);
            coarser.insert(0, level);
        }
        shared.level(cfg.scale, coarser, ctx)
    }
}

/// What every scale of one instance shares.
#[derive(Debug)]
struct Shared {
    client: DvidClient,
    uuid: String,
    locked: bool,
    instance: String,
    supervoxels: bool,
    info: InstanceInfo,
}

impl Shared {
    /// DVID keeps a grayscale pyramid as instances `NAME_1`, `NAME_2`, ... of the same
    /// node; those present, up to the first missing one, of this instance's type and
    /// dtype. Whether each fits the pyramid is checked where levels are built.
    async fn stored_instances(&self, ctx: &NodeCtx<'_>) -> Vec<ArrayRef> {
        let mut out: Vec<ArrayRef> = Vec::new();
        for k in 1..=MAX_STORED_INSTANCES {
            let name = format!("{}_{k}", self.instance);
            let path = format!("/api/node/{}/{}/info", segment(&self.uuid), segment(&name));
            let Ok(raw) = self.client.get_json(&path).await else {
                break;
            };
            let info = match parse_info(&raw) {
                Ok(info) if info.kind == self.info.kind && info.dtype == self.info.dtype => info,
                _ => {
                    tracing::info!(instance = %name, "not a level of {}: coarser levels are computed", self.instance);
                    break;
                }
            };
            let shared = Shared {
                client: self.client.clone(),
                uuid: self.uuid.clone(),
                locked: self.locked,
                instance: name.clone(),
                supervoxels: false,
                info,
            };
            match shared.level(0, Vec::new(), &ctx.derived(json!({"instance": name}))) {
                Ok(level) => out.push(Arc::new(level)),
                Err(_) => break,
            }
        }
        out
    }

    fn level(
        &self,
        scale: u32,
        levels: Vec<ArrayRef>,
        ctx: &NodeCtx<'_>,
    ) -> Result<Dvid, Vec<FieldProblem>> {
        let info = &self.info;
        let level = info.level(scale);
        let vs = Coord::new(level.voxel_size.to_vec());
        let roi = Roi::from_bounds(
            &Coord::new(level.bounds.begin.to_vec()) * &vs,
            &(&Coord::new(level.bounds.end.to_vec()) * &vs),
        );
        let grid = ChunkGrid::from_voxels(
            Coord::splat(0, 3),
            &Coord::new(info.block_size.to_vec()),
            &vs,
        );
        let mut attrs = Map::new();
        if !info.units.is_empty() {
            attrs.insert("units".into(), json!(info.units));
        }
        attrs.insert(
            "dvid".into(),
            json!({
                "server": self.client.base(),
                "uuid": self.uuid,
                "locked": self.locked,
                "instance": self.instance,
                "type": info.type_name,
                "block_size": info.block_size,
                "scale": scale,
                "supervoxels": self.supervoxels,
            }),
        );
        let mut meta = ctx.metadata(MetaParts {
            dtype: info.dtype,
            num_channels: None,
            voxel_size: vs,
            roi,
            grid: Some(grid),
            attrs,
            labels: info.kind.is_labels(),
        })?;
        meta.freshness = if self.locked {
            Freshness::Immutable
        } else {
            Freshness::MaxAge(OPEN_NODE_MAX_AGE)
        };
        Ok(Dvid {
            meta,
            reader: Reader {
                client: self.client.clone(),
                uuid: self.uuid.clone(),
                instance: self.instance.clone(),
                kind: info.kind,
                block: info.block_size,
                scale,
                supervoxels: self.supervoxels,
            },
            levels,
        })
    }
}

fn three(c: &Coord) -> [i64; 3] {
    [0, 1, 2].map(|d| c.get(d).copied().unwrap_or(0))
}

#[async_trait]
impl Array for Dvid {
    fn meta(&self) -> &Metadata {
        &self.meta
    }

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let vs = &self.meta.voxel_size;
        let b = Box3 {
            begin: three(&(&roi.offset / vs)),
            end: three(&(&roi.end() / vs)),
        };
        self.reader.read(b, ctx).await
    }

    fn stored_levels(&self) -> Vec<ArrayRef> {
        self.levels.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::config::{TypedConfig, parse};
    use serde_json::json;

    fn dvid_config(v: &serde_json::Value) -> Result<DvidConfig, Vec<FieldProblem>> {
        parse(v).map(|n| match n.typed {
            TypedConfig::Dvid(c) => c,
            other => panic!("parsed as {other:?}"),
        })
    }

    #[test]
    fn config_fields_and_defaults() {
        let c = dvid_config(&json!({"type": "dvid", "name": "g",
            "source": ["http://h:8000", "a7b3:master", "grayscale"], "token": "t0k3n-xyz"}))
        .unwrap();
        assert_eq!(c.source.server, "http://h:8000");
        assert_eq!(c.source.uuid, "a7b3:master");
        assert_eq!(c.source.instance, "grayscale");
        assert_eq!((c.scale, c.supervoxels, c.timeout_ms), (0, false, None));
        assert_eq!(c.token, Secret::new("t0k3n-xyz"));
        // The token never prints.
        assert!(!format!("{c:?}").contains("t0k3n-xyz"));
        // DaCapo's class name works too.
        let node = parse(&json!({"__type__": "DVIDArrayConfig", "name": "g",
            "source": ["h", "a7", "seg"], "scale": 2}))
        .unwrap();
        assert!(matches!(
            node.typed,
            TypedConfig::Dvid(DvidConfig { scale: 2, .. })
        ));
    }

    #[test]
    fn bad_fields_are_named() {
        for (value, field) in [
            (json!(["h", "a7"]), "source"),
            (json!("h a7 seg"), "source"),
        ] {
            let err =
                dvid_config(&json!({"type": "dvid", "name": "g", "source": value})).unwrap_err();
            assert_eq!(err[0].field, field, "{err:?}");
        }
        for (field, value) in [
            ("token", json!("")),
            ("scale", json!(-1)),
            ("timeout_ms", json!("x")),
        ] {
            let mut c = json!({"type": "dvid", "name": "g", "source": ["h", "a7", "seg"]});
            c[field] = value;
            assert_eq!(dvid_config(&c).unwrap_err()[0].field, field);
        }
        let err = dvid_config(&json!({"type": "dvid", "name": "g"})).unwrap_err();
        assert_eq!(err[0].field, "source");
    }
}
