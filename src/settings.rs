//! Command line and `ARRAYD_*` environment (`spec/api.md`, "Start-up").

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// arrayd: serves DaCapo-style array configs over HTTP.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<Settings>),
    /// Exit 0 when a local server answers its readiness probe (container healthcheck).
    Healthcheck(Healthcheck),
    /// Evaluate an array blockwise into a new OME-Zarr (resumable).
    Export(Box<crate::export::Export>),
}

/// Where the healthcheck probes.
#[derive(Debug, Clone, Args)]
pub struct Healthcheck {
    /// The server's listen address (an unspecified host probes 127.0.0.1).
    #[arg(long, env = "ARRAYD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Path to GET.
    #[arg(long, default_value = "/readyz")]
    pub path: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for containers).
    Json,
}

/// Server settings; every flag also reads an `ARRAYD_*` environment variable.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "ARRAYD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory every config `file_name` is confined to.
    #[arg(long, env = "ARRAYD_DATA_ROOT", default_value = ".")]
    pub data_root: PathBuf,
    /// Configs to register at start (JSON or TOML: a list, or a map name → config).
    #[arg(long, env = "ARRAYD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where registered configs (and the demo data) persist.
    #[arg(long, env = "ARRAYD_STATE_DIR", default_value = "arrayd-state")]
    pub state_dir: PathBuf,
    /// A shared registry for several replicas: `postgres://user:password@host:port/db`
    /// (default: the file in `--state-dir`). Prefer the environment for the password.
    #[arg(long, env = "ARRAYD_REGISTRY", hide_env_values = true)]
    pub registry: Option<RegistryUrl>,
    /// Chunk cache budget (bytes; suffixes K, M, G, KiB, MiB, GiB).
    #[arg(long, env = "ARRAYD_CACHE_SIZE", default_value = "1GiB", value_parser = parse_bytes)]
    pub cache_size: u64,
    /// Largest ROI response, in bytes, before any work is done (413 above it).
    #[arg(long, env = "ARRAYD_MAX_ROI_BYTES", default_value = "512MiB", value_parser = parse_bytes)]
    pub max_roi_bytes: u64,
    /// File holding the bearer token PUT/DELETE require (reads stay open).
    #[arg(long, env = "ARRAYD_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Write a synthetic EM volume with labels into the state dir (once) and register
    /// configs over it.
    #[arg(long, env = "ARRAYD_DEMO")]
    pub demo: bool,
    /// Log format.
    #[arg(long, env = "ARRAYD_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Concurrent decode/compute jobs (default: the number of cores).
    #[arg(long, env = "ARRAYD_COMPUTE_THREADS")]
    pub compute_threads: Option<usize>,
    /// Compute jobs that may wait for a slot (default: 256 per compute thread); one more
    /// is answered 503 + `Retry-After` at once.
    #[arg(long, env = "ARRAYD_COMPUTE_QUEUE")]
    pub compute_queue: Option<usize>,
    /// Seconds a compute job may wait for a slot before its request is answered 503.
    #[arg(long, env = "ARRAYD_COMPUTE_WAIT", default_value_t = 30)]
    pub compute_wait: u64,
    /// Neuroglancer client the `/neuroglancer` links open.
    #[arg(
        long,
        env = "ARRAYD_NEUROGLANCER_URL",
        default_value = "https://neuroglancer-demo.appspot.com"
    )]
    pub neuroglancer_url: String,
    /// A local neuroglancer client (a directory with its `index.html`, e.g. the
    /// `neuroglancer/static` directory of the neuroglancer Python wheel), served at
    /// `/neuroglancer/`; every viewer link then opens it instead of `--neuroglancer-url`.
    #[arg(long, env = "ARRAYD_NEUROGLANCER_DIR")]
    pub neuroglancer_dir: Option<PathBuf>,
    /// Precomputed encoding of image arrays whose config sets no `"encoding"` (applied
    /// only where the array can take it: jpeg to uint8 with 1 or 3 channels, png to
    /// uint8/uint16 with 1 to 4 channels; others stay raw).
    #[arg(long, env = "ARRAYD_IMAGE_ENCODING", value_enum, default_value = "raw")]
    pub image_encoding: crate::encode::image::ChunkEncoding,
    /// The server's public base URL for links (default: from the request's Host).
    #[arg(long, env = "ARRAYD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Compressor for computed chunks in the zarr views.
    #[arg(long, env = "ARRAYD_ZARR_CODEC", value_enum, default_value = "zstd")]
    pub zarr_codec: crate::encode::zarr_chunk::ZarrCodec,
    /// Seconds before a request is answered 503.
    #[arg(long, env = "ARRAYD_REQUEST_TIMEOUT", default_value_t = 300)]
    pub request_timeout: u64,
    /// URL prefix that configs may open as a remote store (`s3://bucket/data`,
    /// `https://host/path`); repeatable. None by default: no remote store is contacted.
    #[arg(
        long = "allow-remote",
        env = "ARRAYD_ALLOW_REMOTE",
        value_delimiter = ','
    )]
    pub allow_remote: Vec<String>,
    /// An `object_store` option for remote stores, `KEY=VALUE` (e.g.
    /// `aws_endpoint=http://minio:9000`), applied over the `AWS_*`/`GOOGLE_*`
    /// environment; repeatable. Prefer the environment for secrets.
    #[arg(long = "store-option", env = "ARRAYD_STORE_OPTION", value_delimiter = ',', value_parser = parse_option)]
    pub store_options: Vec<(String, String)>,
    /// Largest decoded chunk of any array (bytes); bigger grids are refused at PUT.
    #[arg(long, env = "ARRAYD_MAX_CHUNK_BYTES", default_value = "128MiB", value_parser = parse_bytes)]
    pub max_chunk_bytes: u64,
    /// Most grid chunks one read may touch (413 above it).
    #[arg(long, env = "ARRAYD_MAX_CHUNKS_PER_REQUEST", default_value_t = 16_384)]
    pub max_chunks_per_request: u64,
    /// Most sources one node may combine (concat, sum, merge_instances, logical_or).
    #[arg(long, env = "ARRAYD_MAX_FAN_IN", default_value_t = 64)]
    pub max_fan_in: usize,
    /// Deepest chain of wrappers a config may build.
    #[arg(long, env = "ARRAYD_MAX_CHAIN_DEPTH", default_value_t = 32)]
    pub max_chain_depth: usize,
    /// Total bytes of ROI responses being built or sent at once (503 beyond it).
    #[arg(long, env = "ARRAYD_MAX_INFLIGHT_BYTES", default_value = "1GiB", value_parser = parse_bytes)]
    pub max_inflight_bytes: u64,
    /// Largest request body (a config document), bytes.
    #[arg(long, env = "ARRAYD_MAX_BODY_BYTES", default_value = "16MiB", value_parser = parse_bytes)]
    pub max_body_bytes: u64,
    /// Seconds a client may take to send a request's headers, and the longest a
    /// keep-alive connection may sit idle between requests.
    #[arg(long, env = "ARRAYD_HEADER_TIMEOUT", default_value_t = 20)]
    pub header_timeout: u64,
    /// Seconds a connection may make no progress reading a body or taking a response.
    #[arg(long, env = "ARRAYD_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout: u64,
    /// Most open client connections; further ones are answered 503 and closed.
    #[arg(long, env = "ARRAYD_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
}

impl Settings {
    /// Settings with every default, for tests and tools.
    #[must_use]
    pub fn defaults() -> Self {
        match Cli::try_parse_from(["arrayd", "serve"]) {
            Ok(Cli {
                command: Command::Serve(s),
            }) => *s,
            Ok(other) => unreachable!("`arrayd serve` parsed as {other:?}"),
            Err(e) => unreachable!("default settings must parse: {e}"),
        }
    }

    /// The size limits reads and configs are checked against.
    #[must_use]
    pub fn limits(&self) -> crate::limits::Limits {
        crate::limits::Limits {
            max_chunk_bytes: self.max_chunk_bytes,
            max_chunks_per_request: self.max_chunks_per_request,
            max_fan_in: self.max_fan_in,
            max_chain_depth: self.max_chain_depth,
            max_roi_bytes: self.max_roi_bytes,
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// Number of compute jobs in flight.
    #[must_use]
    pub fn compute_jobs(&self) -> usize {
        self.compute_threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
            })
            .max(1)
    }

    /// The bounded compute pool these settings describe.
    #[must_use]
    pub fn compute(&self) -> crate::compute::Compute {
        let jobs = self.compute_jobs();
        crate::compute::Compute::new(
            jobs,
            std::time::Duration::from_secs(self.compute_wait.max(1)),
            self.compute_queue.unwrap_or(jobs * 256),
        )
    }
}

/// A registry connection string; its `Debug` never shows it (it may hold a password).
#[derive(Clone)]
pub struct RegistryUrl(pub String);

impl std::fmt::Debug for RegistryUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryUrl(_)")
    }
}

impl std::str::FromStr for RegistryUrl {
    type Err = std::convert::Infallible;

    /// Never fails here: a value clap refused would be echoed with its password.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Parses `KEY=VALUE`.
///
/// # Errors
/// When there is no `=`.
pub fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .ok_or_else(|| format!("{s:?} must be KEY=VALUE, e.g. aws_endpoint=http://127.0.0.1:9000"))
}

/// Parses `1GiB`, `512MiB`, `64M`, `1000` into bytes.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size; use e.g. 1GiB, 512MiB, 64M or a byte count"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, K, M, G, T, KiB, MiB, GiB or TiB"
            ));
        }
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "sizes are far below 2^53"
    )]
    let bytes = (n * mult as f64).round() as u64;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("64M"), Ok(64_000_000));
        assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
        assert_eq!(parse_bytes("12345"), Ok(12345));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1PB").is_err());
    }

    #[test]
    fn defaults_parse() {
        let s = Settings::defaults();
        assert_eq!(s.cache_size, 1 << 30);
        assert_eq!(s.max_roi_bytes, 512 << 20);
        assert!(!s.demo);
        assert_eq!(s.limits(), crate::limits::Limits::default());
    }
}
