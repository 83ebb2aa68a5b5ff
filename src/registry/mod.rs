//! The registry of named array configs (`spec/api.md`, "Registry"): register, replace,
//! delete, list; references between configs; durable across restarts.
//!
//! Readers take an immutable snapshot (`Arc`), so a concurrent PUT never changes a
//! read halfway; writers are serialized, persist first and then publish. The registry
//! persists in a file (`store`) or, shared by replicas, in PostgreSQL (`pg`, `shared`).

pub mod pg;
mod shared;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;

use crate::array::config::{self, NodeConfig, SourceConfig};
use crate::array::resolve::{Lookup, ResolveEnv, resolve};
use crate::array::{ArrayRef, FieldProblem};
use crate::cache::ChunkCache;
use crate::error::Error;
use crate::levels::Levels;
use store::{Store, StoredEntry, persist};

/// One registered config and the array it opened (or why it could not).
#[derive(Debug)]
pub struct Entry {
    /// The registered name.
    pub name: String,
    /// The config as sent (with `name` filled in).
    pub config: Value,
    /// Names this config refers to, directly.
    pub refs: Vec<String>,
    /// The opened array, or why it failed to open at start-up.
    pub state: Result<ArrayRef, String>,
    /// The opened array's levels, built with it (`None` when it failed to open).
    pub levels: Option<Arc<Levels>>,
}

impl Entry {
    /// The opened array.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when it failed to open.
    pub fn array(&self) -> Result<&ArrayRef, Error> {
        self.state.as_ref().map_err(|reason| {
            Error::Unavailable(format!(
                "array {:?} is registered but not available: {reason}",
                self.name
            ))
        })
    }

    /// The opened array's levels.
    ///
    /// # Errors
    /// As [`Entry::array`].
    pub fn levels(&self) -> Result<&Arc<Levels>, Error> {
        self.array()?;
        self.levels
            .as_ref()
            .ok_or_else(|| Error::Internal(format!("array {:?} has no levels", self.name)))
    }
}

#[derive(Debug, Default, Clone)]
struct Snapshot {
    order: Vec<String>,
    entries: HashMap<String, Arc<Entry>>,
    /// Shared registry only: the database revision this snapshot equals, and each
    /// entry's row revision.
    rev: i64,
    revs: HashMap<String, i64>,
}

impl Snapshot {
    /// True when `from` refers to `target`, directly or through other entries.
    fn depends_on(&self, from: &str, target: &str) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(n) = stack.pop() {
            if n == target {
                return true;
            }
            if seen.insert(n.clone())
                && let Some(e) = self.entries.get(&n)
            {
                stack.extend(e.refs.iter().cloned());
            }
        }
        false
    }

    /// Entries that refer to `name` (transitively), in registration order.
    fn dependents(&self, name: &str) -> Vec<String> {
        self.order
            .iter()
            .filter(|n| n.as_str() != name && self.depends_on(n, name))
            .cloned()
            .collect()
    }

    fn stored(&self) -> Vec<StoredEntry> {
        self.order
            .iter()
            .filter_map(|n| self.entries.get(n))
            .map(|e| StoredEntry {
                name: e.name.clone(),
                config: e.config.clone(),
            })
            .collect()
    }
}

/// Resolves named references against a snapshot while registering `target`.
struct SnapshotLookup<'a> {
    snap: &'a Snapshot,
    target: &'a str,
}

impl Lookup for SnapshotLookup<'_> {
    fn lookup(&self, name: &str) -> Result<ArrayRef, String> {
        if name == self.target {
            return Err(format!("refers to {name:?} itself: a reference cycle"));
        }
        let entry = self.snap.entries.get(name).ok_or_else(|| {
            format!("no array named {name:?} is registered; register it first or define the source inline")
        })?;
        if self.snap.depends_on(name, self.target) {
            return Err(format!(
                "{name:?} refers back to {:?}: a reference cycle",
                self.target
            ));
        }
        entry
            .state
            .clone()
            .map_err(|reason| format!("{name:?} is registered but not available: {reason}"))
    }
}

/// The outcome of a PUT.
#[derive(Debug)]
pub struct PutOutcome {
    /// The entry as registered (or as it would be, for a dry run).
    pub entry: Arc<Entry>,
    /// True when the name was new.
    pub created: bool,
}

/// Checks a registry name: 1-128 characters of `[A-Za-z0-9._-]`.
///
/// # Errors
/// [`Error::BadRequest`] explaining the rule.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "array name {name:?} is not allowed: use 1-128 characters of A-Z a-z 0-9 . _ - (not '.' or '..')"
        )))
    }
}

fn collect_refs(node: &NodeConfig, out: &mut Vec<String>) {
    for slot in &node.sources {
        match &slot.config {
            SourceConfig::Named(n) => {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
            SourceConfig::Inline(inner) => collect_refs(inner, out),
        }
    }
}

/// Names a config document refers to (empty when it does not parse).
fn refs_of(config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(node) = config::parse(config) {
        collect_refs(&node, &mut out);
    }
    out
}

/// Indices of `entries` (name, config) ordered so that every config comes after the
/// ones it refers to by name (file order otherwise; cycles are left for resolution to
/// report).
#[must_use]
pub fn dependency_order(entries: &[(String, Value)]) -> Vec<usize> {
    fn visit(
        i: usize,
        entries: &[(String, Value)],
        index: &HashMap<&str, usize>,
        seen: &mut HashSet<usize>,
        order: &mut Vec<usize>,
    ) {
        if !seen.insert(i) {
            return;
        }
        for r in refs_of(&entries[i].1) {
            if let Some(&j) = index.get(r.as_str()) {
                visit(j, entries, index, seen, order);
            }
        }
        order.push(i);
    }
    let index: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let mut seen = HashSet::new();
    let mut order = Vec::with_capacity(entries.len());
    for i in 0..entries.len() {
        visit(i, entries, &index, &mut seen, &mut order);
    }
    order
}

/// Where the registry persists.
#[derive(Debug)]
enum Backend {
    File(Store),
    Pg(Box<pg::PgStore>),
}

/// The registry.
#[derive(Debug)]
pub struct Registry {
    snap: RwLock<Arc<Snapshot>>,
    writer: tokio::sync::Mutex<()>,
    backend: Backend,
    env: ResolveEnv,
    cache: ChunkCache,
    loaded: AtomicBool,
    ready: AtomicBool,
    /// Shared registry only: why the snapshot may be behind the database.
    stale: Mutex<Option<String>>,
}

impl Registry {
    /// An empty registry persisting into `state_dir`; call [`Registry::load`] next.
    ///
    /// # Errors
    /// When the state directory cannot be created.
    pub fn new(state_dir: &Path, env: ResolveEnv, cache: ChunkCache) -> std::io::Result<Self> {
        Ok(Self::with_backend(
            Backend::File(Store::open(state_dir)?),
            env,
            cache,
        ))
    }

    /// An empty registry shared through PostgreSQL at `url`; call [`Registry::load`] next.
    ///
    /// # Errors
    /// When `url` is not a connection string (the message never repeats it).
    pub fn shared(url: &str, env: ResolveEnv, cache: ChunkCache) -> Result<Self, String> {
        let pg = pg::PgStore::new(url)?;
        env.writes.announcer().connect(pg.peers());
        Ok(Self::with_backend(Backend::Pg(Box::new(pg)), env, cache))
    }

    fn with_backend(backend: Backend, env: ResolveEnv, cache: ChunkCache) -> Self {
        Self {
            snap: RwLock::new(Arc::new(Snapshot::default())),
            writer: tokio::sync::Mutex::new(()),
            backend,
            env,
            cache,
            loaded: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            stale: Mutex::new(None),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snap
            .read()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    fn publish(&self, snap: Snapshot) {
        let snap = Arc::new(snap);
        match self.snap.write() {
            Ok(mut g) => *g = snap,
            Err(p) => *p.into_inner() = snap,
        }
    }

    /// Marks start-up (persisted configs, demo, `--config`) as complete.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// True once start-up is complete (what `/readyz` reports).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// True once the persisted configs have been loaded.
    #[must_use]
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Opens every persisted config (dependencies first). Configs that fail to open
    /// stay registered, marked unavailable with the reason.
    ///
    /// # Errors
    /// When the registry file cannot be read.
    pub async fn load(&self) -> Result<usize, String> {
        let store = match &self.backend {
            Backend::File(store) => store,
            Backend::Pg(pg) => return Ok(self.load_shared(pg).await),
        };
        let stored: Vec<(String, Value)> = store
            .load()?
            .into_iter()
            .map(|e| (e.name, e.config))
            .collect();
        let _w = self.writer.lock().await;
        let mut snap = Snapshot::default();
        for i in dependency_order(&stored) {
            let (name, config) = stored[i].clone();
            let entry = self.open(&snap, &name, config).await;
            if let Err(reason) = &entry.state {
                tracing::error!(array = %name, %reason, "registered array is unavailable");
            }
            snap.entries.insert(name.clone(), Arc::new(entry));
            snap.order.push(name);
        }
        let count = snap.order.len();
        self.publish(snap);
        self.loaded.store(true, Ordering::Release);
        Ok(count)
    }

    /// Opens a stored config against `snap`, recording failure in the entry.
    async fn open(&self, snap: &Snapshot, name: &str, config: Value) -> Entry {
        match self.build(snap, name, &config).await {
            Ok(e) => e,
            Err(problems) => Entry {
                name: name.to_owned(),
                refs: refs_of(&config),
                config,
                state: Err(problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")),
                levels: None,
            },
        }
    }

    async fn build(
        &self,
        snap: &Snapshot,
        name: &str,
        config: &Value,
    ) -> Result<Entry, Vec<FieldProblem>> {
        let node = config::parse(config)?;
        let lookup = SnapshotLookup { snap, target: name };
        let array = resolve(&node, "", &self.env, &lookup).await?;
        let mut levels = Levels::build(&array);
        let problems = node.options.view.check(&levels);
        if !problems.is_empty() {
            return Err(problems);
        }
        levels.view = node.options.view.clone();
        let mut refs = Vec::new();
        collect_refs(&node, &mut refs);
        Ok(Entry {
            name: name.to_owned(),
            config: config.clone(),
            refs,
            levels: Some(Arc::new(levels)),
            state: Ok(array),
        })
    }

    /// The entry registered as `name`.
    ///
    /// # Errors
    /// [`Error::NotFound`], or [`Error::Unavailable`] while loading.
    pub fn get(&self, name: &str) -> Result<Arc<Entry>, Error> {
        if !self.is_loaded() {
            return Err(Error::Unavailable(
                "the registry is still loading; retry shortly".into(),
            ));
        }
        self.snapshot().entries.get(name).cloned().ok_or_else(|| {
            Error::NotFound(format!(
                "no array named {name:?} is registered; GET /v1/arrays lists them"
            ))
        })
    }

    /// Every entry, sorted by name.
    #[must_use]
    pub fn list(&self) -> Vec<Arc<Entry>> {
        let snap = self.snapshot();
        let mut all: Vec<_> = snap.entries.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Registers or replaces `name`. Arrays that refer to it are reopened against the
    /// new config; if any of them would break, nothing changes. With `dry_run`, only
    /// validates.
    ///
    /// # Errors
    /// [`Error::Validation`] listing every problem, [`Error::BadRequest`] for a bad
    /// name, or [`Error::Internal`] when persisting fails.
    pub async fn put(
        &self,
        name: &str,
        mut config: Value,
        dry_run: bool,
    ) -> Result<PutOutcome, Error> {
        validate_name(name)?;
        match config.as_object_mut() {
            Some(obj) => match obj.get("name") {
                None => {
                    obj.insert("name".into(), Value::String(name.to_owned()));
                }
                Some(Value::String(n)) if n == name => {}
                Some(other) => {
                    return Err(Error::Validation(vec![FieldProblem::new(
                        "name",
                        format!(
                            "is {other} but the URL names {name:?}; omit it or make them equal"
                        ),
                    )]));
                }
            },
            None => {
                return Err(Error::Validation(vec![FieldProblem::new(
                    "",
                    "the body must be a JSON object: an array config with a \"type\"",
                )]));
            }
        }
        if !self.is_loaded() {
            return Err(Error::Unavailable(
                "the registry is still loading; retry shortly".into(),
            ));
        }
        let store = match &self.backend {
            Backend::File(store) => store,
            Backend::Pg(pg) => return self.put_shared(pg, name, config, dry_run).await,
        };
        let _w = self.writer.lock().await;
        let old = self.snapshot();
        let (entry, next, created) = self.plan_put(&old, name, config).await?;
        if !dry_run {
            persist(store, &next).await?;
            self.invalidate_changed(&old, &next);
            self.publish(next);
        }
        Ok(PutOutcome { entry, created })
    }

    /// `old` with `name` registered as `config` and its dependents reopened, or every
    /// problem that prevents it; whether `name` is new.
    async fn plan_put(
        &self,
        old: &Snapshot,
        name: &str,
        config: Value,
    ) -> Result<(Arc<Entry>, Snapshot, bool), Error> {
        let entry = Arc::new(
            self.build(old, name, &config)
                .await
                .map_err(Error::Validation)?,
        );
        let mut next = old.clone();
        let created = !next.entries.contains_key(name);
        if created {
            next.order.push(name.to_owned());
        }
        next.entries.insert(name.to_owned(), entry.clone());
        let mut problems = Vec::new();
        for dep in old.dependents(name) {
            let Some(e) = next.entries.get(&dep).cloned() else {
                continue;
            };
            match self.build(&next, &dep, &e.config).await {
                Ok(rebuilt) => {
                    next.entries.insert(dep.clone(), Arc::new(rebuilt));
                }
                Err(ps) => problems.extend(ps.into_iter().map(|p| {
                    FieldProblem::new(
                        format!("(dependent {dep:?}) {}", p.field),
                        format!("replacing {name:?} would break {dep:?}: {}", p.reason),
                    )
                })),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        Ok((entry, next, created))
    }

    /// Removes `name`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Conflict`] when other configs refer to it, or
    /// [`Error::Internal`] when persisting fails.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let store = match &self.backend {
            Backend::File(store) => store,
            Backend::Pg(pg) => return self.delete_shared(pg, name).await,
        };
        let _w = self.writer.lock().await;
        let old = self.get(name).map(|_| self.snapshot())?;
        let next = plan_delete(&old, name)?;
        persist(store, &next).await?;
        self.invalidate_changed(&old, &next);
        self.publish(next);
        Ok(())
    }

    /// Drops cached chunks of arrays whose resolved config changed or vanished.
    fn invalidate_changed(&self, old: &Snapshot, next: &Snapshot) {
        for (name, e) in &old.entries {
            let Ok(old_array) = &e.state else { continue };
            let old_hash = old_array.meta().hash;
            let still = next
                .entries
                .get(name)
                .and_then(|n| n.state.as_ref().ok())
                .is_some_and(|a| a.meta().hash == old_hash);
            if !still {
                self.cache.invalidate_config(old_hash);
            }
        }
    }
}

/// `old` without `name`, or a 404 / 409 (`name` is unknown / still referred to).
fn plan_delete(old: &Snapshot, name: &str) -> Result<Snapshot, Error> {
    if !old.entries.contains_key(name) {
        return Err(Error::NotFound(format!(
            "no array named {name:?} is registered; GET /v1/arrays lists them"
        )));
    }
    let users: Vec<&String> = old
        .order
        .iter()
        .filter(|n| {
            old.entries
                .get(*n)
                .is_some_and(|e| e.refs.iter().any(|r| r == name))
        })
        .collect();
    if !users.is_empty() {
        return Err(Error::Conflict(format!(
            "array {name:?} is referred to by {users:?}; delete or change those first"
        )));
    }
    let mut next = old.clone();
    next.order.retain(|n| n != name);
    next.entries.remove(name);
    next.revs.remove(name);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("raw-1.s0_x").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(&"a".repeat(129)).is_err());
    }
}
