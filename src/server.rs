//! Application state, the route table, the middleware stack, and serving with
//! graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::array::resolve::ResolveEnv;
use crate::cache::ChunkCache;
use crate::dvid::DvidPool;
use crate::error::Error;
use crate::eval::ReadCtx;
use crate::http::budget::ResponseBudget;
use crate::http::layers::{self, REQUEST_ID};
use crate::http::listener;
use crate::metrics::Metrics;
use crate::recycle::Recycler;
use crate::registry::Registry;
use crate::settings::Settings;
use crate::storage::DataRoot;
use crate::storage::remote::Remotes;
use crate::views;

/// Shared state of every handler, behind one `Arc`: axum clones the state for every
/// request, and one reference count is cheaper than the dozen the fields hold.
#[derive(Debug, Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Debug)]
pub struct SharedState {
    /// The registry of configs.
    pub registry: Arc<Registry>,
    /// Cache, compute pool and metrics for reads.
    pub ctx: ReadCtx,
    /// Settings the server started with.
    pub settings: Arc<Settings>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Bearer token PUT/DELETE require, if any.
    pub admin_token: Option<Arc<str>>,
    /// Bytes of ROI responses in flight (`--max-inflight-bytes`).
    pub budget: ResponseBudget,
    /// Data root, remote stores and writers, as configs are resolved with.
    pub env: ResolveEnv,
}

/// One route: method, path template and handler.
#[derive(Debug)]
pub struct RouteDef {
    /// HTTP method (GET also answers HEAD).
    pub method: Method,
    /// axum path template.
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

/// The route table: `METHOD "path" => handler;` per route (GET also answers HEAD).
macro_rules! routes {
    ($($method:ident $path:literal => $handler:expr;)*) => {
        vec![$(RouteDef {
            method: Method::$method,
            path: $path,
            handler: on(MethodFilter::$method, $handler),
        },)*]
    };
}

/// Every route the server answers; the router is built from this list only, and the
/// OpenAPI test compares it with `openapi/openapi.yaml`.
#[must_use]
pub fn routes() -> Vec<RouteDef> {
    use views::zarr::{ArrayKey, OmeKey};
    use views::{arrays, health, index, local_viewer, metrics, neuroglancer, precomputed};
    use views::{preview, roi, segments, write, zarr};
    routes! {
        GET "/" => index::index;
        GET "/healthz" => health::healthz;
        GET "/readyz" => health::readyz;
        GET "/metrics" => metrics::metrics;
        GET "/v1/arrays" => arrays::list;
        GET "/v1/arrays/{name}" => arrays::show;
        PUT "/v1/arrays/{name}" => arrays::put;
        DELETE "/v1/arrays/{name}" => arrays::delete;
        GET "/v1/arrays/{name}/roi" => roi::roi;
        PUT "/v1/arrays/{name}/roi" => write::put_roi;
        PATCH "/v1/arrays/{name}/attrs" => write::patch_attrs;
        GET "/v1/arrays/{name}/precomputed/info" => precomputed::get_info;
        GET "/v1/arrays/{name}/precomputed/segment_properties/info" => segments::get_info;
        GET "/v1/arrays/{name}/precomputed/{key}/{chunk}" => precomputed::get_chunk;
        GET "/v1/arrays/{name}/neuroglancer" => neuroglancer::neuroglancer;
        GET "/v1/arrays/{name}/preview.png" => preview::preview;
        GET "/v1/neuroglancer" => neuroglancer::combined;
        GET "/neuroglancer/" => local_viewer::serve;
        GET "/neuroglancer/{*path}" => local_viewer::serve;
        GET "/v1/arrays/{name}/zarr/{*key}" => zarr::array_view::<ArrayKey, true>;
        GET "/v1/arrays/{name}/zarr2/{*key}" => zarr::array_view::<ArrayKey, false>;
        GET "/v1/arrays/{name}/ome-zarr/{*key}" => zarr::array_view::<OmeKey, true>;
        GET "/v1/arrays/{name}/ome-zarr2/{*key}" => zarr::array_view::<OmeKey, false>;
        GET "/v1/zarr/{*path}" => zarr::root_group::<true>;
        GET "/v1/zarr2/{*path}" => zarr::root_group::<false>;
    }
}

async fn not_found(uri: Uri) -> Response {
    Error::NotFound(format!(
        "no route for {}; GET /v1/arrays lists the arrays",
        uri.path()
    ))
    .into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    Error::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path())).into_response()
}

/// Read-your-writes on a shared registry: a GET of an array this replica does not hold
/// looks in the database first.
async fn known_name(
    axum::extract::State(registry): axum::extract::State<Arc<Registry>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        let name = req.uri().path().strip_prefix("/v1/arrays/");
        if let Some(name) = name.and_then(|rest| rest.split('/').next())
            && !name.is_empty()
        {
            registry.ensure_known(name).await;
        }
    }
    next.run(req).await
}

/// The application: routes plus the middleware stack.
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.request_timeout.max(1));
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, r.handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.registry.clone(),
            known_name,
        ))
        .layer(axum::middleware::from_fn_with_state(timeout, layers::timeout))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), layers::track))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), layers::Counter::default()))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                        let id = req
                            .headers()
                            .get(&REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
                    })
                    // Failures are logged where they arise (error.rs), once and at the
                    // right level: a 503 from /readyz during start-up is not an error.
                    .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .layer(CatchPanicLayer::custom(layers::panic_response))
                .layer(layers::cors())
                .layer(layers::compression()),
        )
        .with_state(state)
}

/// Builds the state: cache, compute pool, an empty (not yet loaded) registry.
///
/// # Errors
/// When the data root or state dir cannot be used, or the token file is unreadable.
pub fn build_state(settings: Settings) -> Result<AppState, String> {
    let metrics = Arc::new(Metrics::new());
    let data_root = Arc::new(
        DataRoot::open(&settings.data_root)
            .map_err(|e| format!("--data-root {}: {e}", settings.data_root.display()))?,
    );
    let cache = ChunkCache::new(settings.cache_size, metrics.clone());
    let jobs = settings.compute_jobs();
    let ctx = ReadCtx {
        cache: cache.clone(),
        compute: settings.compute(),
        metrics: metrics.clone(),
        fanout: jobs * 2,
        limits: settings.limits(),
        recycle: Recycler::within(settings.max_inflight_bytes),
    };
    let env = ResolveEnv {
        limits: settings.limits(),
        metrics: metrics.clone(),
        remotes: Arc::new(Remotes::new(
            settings.allow_remote.clone(),
            settings.store_options.clone(),
            metrics.clone(),
        )),
        data_root,
        demo_root: settings.demo.then(|| settings.state_dir.join("demo")),
        dvid: Arc::new(DvidPool::from_env(metrics.clone())?),
        writes: Arc::default(),
    };
    let registry = match &settings.registry {
        Some(url) => Registry::shared(&url.0, env.clone(), cache)?,
        None => Registry::new(&settings.state_dir, env.clone(), cache)
            .map_err(|e| format!("--state-dir {}: {e}", settings.state_dir.display()))?,
    };
    let admin_token = match &settings.admin_token_file {
        None => None,
        Some(path) => {
            let raw = std::fs::read_to_string(path)
                .map_err(|e| format!("--admin-token-file {}: {e}", path.display()))?;
            let token = raw.trim();
            if token.is_empty() {
                return Err(format!("--admin-token-file {} is empty", path.display()));
            }
            Some(Arc::from(token))
        }
    };
    if settings.max_inflight_bytes < settings.max_roi_bytes {
        return Err(format!(
            "--max-inflight-bytes ({}) must be at least --max-roi-bytes ({})",
            settings.max_inflight_bytes, settings.max_roi_bytes
        ));
    }
    Ok(AppState(Arc::new(SharedState {
        budget: ResponseBudget::new(settings.max_inflight_bytes, Duration::from_secs(10)),
        registry: Arc::new(registry),
        ctx,
        settings: Arc::new(settings),
        metrics,
        admin_token,
        env,
    })))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// Loads the registry, the demo and `--config` into a built state.
///
/// # Errors
/// A persisted registry that cannot be read, or a `--config` entry that is invalid.
pub async fn load(state: &AppState) -> Result<(), String> {
    let n = state.registry.load().await?;
    state.registry.watch();
    tracing::info!(arrays = n, "registry loaded");
    if state.settings.demo {
        crate::demo::ensure(&state.settings.state_dir.join("demo"), &state.registry).await?;
    }
    if let Some(path) = &state.settings.config {
        crate::preload::preload(path, &state.registry).await?;
    }
    state.registry.set_ready();
    Ok(())
}

/// Serves until SIGTERM/SIGINT, then finishes in-flight requests.
///
/// # Errors
/// Start-up failures (bad settings, port in use, invalid preload).
pub async fn run(settings: Settings) -> Result<(), String> {
    let listen = settings.listen;
    let limits = conn_limits(&settings);
    listener::raise_fd_limit(settings.max_connections);
    let state = build_state(settings)?;
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    tracing::info!(address = %listen, "listening");
    let server = tokio::spawn(listener::serve(
        tcp,
        app(state.clone()),
        limits,
        shutdown_signal(),
    ));
    if let Err(e) = load(&state).await {
        server.abort();
        return Err(e);
    }
    server.await.map_err(|e| format!("server task failed: {e}"))
}

/// The connection limits in `settings` (timeouts of at least one second).
#[must_use]
pub fn conn_limits(settings: &Settings) -> listener::ConnLimits {
    let secs = |s: u64| Duration::from_secs(s.max(1));
    listener::ConnLimits {
        header_timeout: secs(settings.header_timeout),
        idle_timeout: secs(settings.idle_timeout),
        max_connections: settings.max_connections.max(1),
        drain: secs(
            settings
                .request_timeout
                .saturating_add(settings.idle_timeout),
        ),
    }
}
