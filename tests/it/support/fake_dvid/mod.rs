//! A fake DVID server for tests, written from `spec/dvid.md` §7 (DVID itself cannot be
//! installed here, §10), seeded from Rust: repos with a DAG of nodes, `uint8blk`,
//! `labelmap` and `labelarray` instances with sparse blocks per scale. It serves the
//! metadata endpoints (server, repos, repo and instance info, commit state), UUID
//! resolution as §5, `raw`/`isotropic` 3-D reads with zero fill and any offset,
//! labelmap `/blocks` and `/specificblocks` in all four compressions with records in
//! shuffled order, uint8blk `/blocks` rows, and DVID's plain-text errors. Switches
//! force faults (a status, a delay, a truncated or garbage body), require a bearer
//! token (DSG-style 401 or JWT-style 400) or stop the listener (connection refused);
//! every request is logged for counting.
//!
//! Known differences from a real DVID (§7): data is unversioned (every node of a repo
//! sees the same blocks) and there are no locking rules, mutation log, agglomeration
//! (`supervoxels` changes nothing), downres computation (scales exist only if seeded),
//! 2-D/JPEG/`google` outputs or ROI masking (these answer 400); free-text `Base` fields
//! differ; auth is simulated; no size limits or throttling except the forced 503.

mod repo;
mod routes;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use repo::{Instance, InstanceSpec, Node, Repo, World};

/// Which endpoints a forced fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Voxel endpoints: `raw`, `isotropic`, `blocks`, `specificblocks`.
    Data,
    /// Only labelmap `blocks` and `specificblocks` (to exercise a client's fallback).
    Blocks,
}

/// A forced fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status with DVID's text for it.
    Status(u16),
    /// Answer normally after this delay.
    Delay(Duration),
    /// Send half the body, then drop the connection.
    Truncate,
    /// Answer 200 with bytes that are not what the endpoint sends.
    Garbage,
    /// Read the request, then drop the connection without answering.
    Hangup,
}

/// How a required token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// DSG mode: 401 `dsg token required` / `invalid DSG token`.
    Dsg,
    /// Legacy JWT mode: 400 `JWT required via Authorization in request header`.
    Jwt,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub query: String,
    /// The endpoint keyword (`info`, `raw`, `blocks`, `repo-info`, ...).
    pub endpoint: String,
    pub auth: Option<String>,
}

/// State shared by the handlers and the test.
#[derive(Debug, Default)]
pub struct Shared {
    pub world: Mutex<World>,
    fault: Mutex<Option<(Scope, Fault)>>,
    token: Mutex<Option<(String, AuthStyle)>>,
    log: Mutex<Vec<Logged>>,
}

type Running = (oneshot::Sender<()>, JoinHandle<()>);

/// A running fake DVID.
pub struct FakeDvid {
    pub shared: Arc<Shared>,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
}

fn spawn(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> Running {
    let app = axum::Router::new()
        .fallback(routes::handle)
        .with_state(shared);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (tx, task)
}

impl FakeDvid {
    /// Starts an empty fake on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let running = spawn(listener, shared.clone());
        Self {
            shared,
            addr,
            running: Mutex::new(Some(running)),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every connection: clients get "connection refused".
    pub async fn stop(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some((tx, task)) = running {
            let _ = tx.send(());
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        *self.running.lock().unwrap() = Some(spawn(listener, self.shared.clone()));
    }

    /// Adds a repo whose root node is `root` (open, master branch).
    pub fn add_repo(&self, root: &str, alias: &str) {
        assert_eq!(root.len(), 32, "full UUIDs are 32 hex digits");
        self.shared.world.lock().unwrap().repos.push(Repo {
            root: root.to_owned(),
            alias: alias.to_owned(),
            nodes: vec![Node {
                uuid: root.to_owned(),
                version: 1,
                branch: String::new(),
                locked: false,
                parents: vec![],
                children: vec![],
            }],
            instances: Default::default(),
        });
    }

    /// Adds `uuid` as a child of `parent` on `branch` ("" = master).
    pub fn add_node(&self, parent: &str, uuid: &str, branch: &str) {
        let mut w = self.shared.world.lock().unwrap();
        let repo = w
            .repos
            .iter_mut()
            .find(|r| r.nodes.iter().any(|n| n.uuid == parent))
            .unwrap();
        let version = repo.nodes.iter().map(|n| n.version).max().unwrap() + 1;
        let p = repo.nodes.iter_mut().find(|n| n.uuid == parent).unwrap();
        p.children.push(version);
        let parent_version = p.version;
        repo.nodes.push(Node {
            uuid: uuid.to_owned(),
            version,
            branch: branch.to_owned(),
            locked: false,
            parents: vec![parent_version],
            children: vec![],
        });
    }

    /// Commits (locks) a node.
    pub fn lock(&self, uuid: &str) {
        let mut w = self.shared.world.lock().unwrap();
        for r in &mut w.repos {
            for n in &mut r.nodes {
                if n.uuid == uuid {
                    n.locked = true;
                }
            }
        }
    }

    fn with_instance<R>(
        &self,
        repo_root: &str,
        name: &str,
        f: impl FnOnce(&mut Instance) -> R,
    ) -> R {
        let mut w = self.shared.world.lock().unwrap();
        let repo = w.repos.iter_mut().find(|r| r.root == repo_root).unwrap();
        f(repo.instances.get_mut(name).unwrap())
    }

    /// Adds an instance (no data yet: `null` extents).
    pub fn add_instance(&self, repo_root: &str, spec: InstanceSpec) {
        let mut w = self.shared.world.lock().unwrap();
        let repo = w.repos.iter_mut().find(|r| r.root == repo_root).unwrap();
        repo.instances.insert(
            spec.name.clone(),
            Instance {
                spec,
                extents: None,
                scales: vec![Default::default()],
            },
        );
    }

    /// Writes `data` (z,y,x order, `shape` z,y,x) at `offset` (z,y,x voxels of `scale`).
    pub fn write(
        &self,
        repo_root: &str,
        name: &str,
        scale: usize,
        offset: [i64; 3],
        shape: [usize; 3],
        data: &[u64],
    ) {
        assert_eq!(data.len(), shape.iter().product::<usize>());
        self.with_instance(repo_root, name, |i| i.write(scale, offset, shape, data));
    }

    /// Sets explicit inclusive extents (x,y,z), as `POST .../extents` would.
    pub fn set_extents(&self, repo_root: &str, name: &str, min: [i64; 3], max: [i64; 3]) {
        self.with_instance(repo_root, name, |i| i.extents = Some((min, max)));
    }

    /// Forces `fault` on the endpoints of `scope` until cleared.
    pub fn set_fault(&self, scope: Scope, fault: Fault) {
        *self.shared.fault.lock().unwrap() = Some((scope, fault));
    }

    pub fn clear_fault(&self) {
        *self.shared.fault.lock().unwrap() = None;
    }

    /// Requires `Authorization: Bearer <token>` on `/api/repo` and `/api/node`.
    pub fn require_token(&self, token: &str, style: AuthStyle) {
        *self.shared.token.lock().unwrap() = Some((token.to_owned(), style));
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests so far to `endpoint` (`info`, `raw`, `blocks`, `repo-info`, ...).
    pub fn count(&self, endpoint: &str) -> usize {
        self.shared
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.endpoint == endpoint)
            .count()
    }
}
