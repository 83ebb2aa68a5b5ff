//! The shared registry's behaviour: each write is one transaction that validates
//! against the database's rows; notices and a periodic poll keep every replica's
//! snapshot equal to the database; a lost connection is retried with backoff.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::pg::{self, CHANNEL, PgStore, Row};
use super::{Backend, Entry, PutOutcome, Registry, Snapshot, dependency_order, plan_delete};
use crate::error::Error;

const POLL: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Registry {
    /// Loads the shared registry, retrying with backoff until the database answers.
    pub(super) async fn load_shared(&self, pg: &PgStore) -> usize {
        let mut backoff = Duration::from_millis(100);
        loop {
            let done = match pg.migrate().await {
                Ok(()) => self.refresh(pg, true).await,
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => break,
                Err(e) => {
                    self.set_stale(Some(e.to_string()));
                    tracing::warn!(error = %e, "shared registry not loaded yet; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        self.snapshot().order.len()
    }

    fn set_stale(&self, why: Option<String>) {
        match self.stale.lock() {
            Ok(mut g) => *g = why,
            Err(p) => *p.into_inner() = why,
        }
    }

    fn stale(&self) -> Option<String> {
        self.stale
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    /// Where the registry lives and, when shared, whether it may be behind (`/readyz`).
    #[must_use]
    pub fn status(&self) -> Value {
        match &self.backend {
            Backend::File(_) => json!({"backend": "file"}),
            Backend::Pg(pg) => {
                let stale = self.stale();
                json!({
                    "backend": "postgres",
                    "database": pg.shown(),
                    "stale": stale.is_some(),
                    "detail": stale.map_or_else(
                        || "in sync with the database".to_owned(),
                        |why| format!("serving the last registry loaded; writes are refused until the database is back: {why}"),
                    ),
                })
            }
        }
    }

    /// Read-your-writes: a name this replica does not hold is looked up in the database
    /// (skipped while the database is known to be down).
    pub async fn ensure_known(&self, name: &str) {
        let Backend::Pg(pg) = &self.backend else {
            return;
        };
        if self.snapshot().entries.contains_key(name) || self.stale().is_some() {
            return;
        }
        let exists = async {
            let client = pg.client().await.ok()?;
            let row = client
                .query_opt("SELECT 1 FROM arrayd_arrays WHERE name = $1", &[&name])
                .await
                .ok()?;
            row.map(|_| ())
        };
        if let Ok(Some(())) = tokio::time::timeout(Duration::from_secs(3), exists).await
            && let Err(e) = self.refresh(pg, false).await
        {
            tracing::warn!(error = %e, "registry refresh failed");
        }
    }

    /// Makes the snapshot equal to the database (`full`: every config is re-read).
    async fn refresh(&self, pg: &PgStore, full: bool) -> Result<(), Error> {
        let _w = self.writer.lock().await;
        let old = self.snapshot();
        let client = pg.client().await?;
        let since = if full { -1 } else { old.rev };
        let (rev, rows) = pg::rows(&client, since)
            .await
            .map_err(|e| pg.unavailable(&e))?;
        if !full && rev == old.rev {
            return Ok(());
        }
        let next = match self.synced(&old, rev, rows, full).await {
            Some(next) => next,
            None => {
                let (rev, rows) = pg::rows(&client, -1)
                    .await
                    .map_err(|e| pg.unavailable(&e))?;
                self.synced(&old, rev, rows, true).await.unwrap_or_default()
            }
        };
        self.invalidate_changed(&old, &next);
        self.publish(next);
        Ok(())
    }

    /// The snapshot equal to `rows` at `rev`, reusing `old`'s entries whose row and
    /// sources are unchanged (`retry`: reopen unavailable ones too); `None` when a row's
    /// config was not sent and `old` does not hold it.
    async fn synced(
        &self,
        old: &Snapshot,
        rev: i64,
        rows: Vec<Row>,
        retry: bool,
    ) -> Option<Snapshot> {
        let mut docs = Vec::with_capacity(rows.len());
        for row in rows {
            let config = match row.config {
                Some(c) => c,
                None if old.revs.get(&row.name) == Some(&row.rev) => {
                    old.entries.get(&row.name)?.config.clone()
                }
                None => return None,
            };
            docs.push((row.name, config, row.rev));
        }
        let pairs: Vec<(String, Value)> = docs
            .iter()
            .map(|(n, c, _)| (n.clone(), c.clone()))
            .collect();
        let mut next = Snapshot {
            order: docs.iter().map(|d| d.0.clone()).collect(),
            rev,
            revs: docs.iter().map(|d| (d.0.clone(), d.2)).collect(),
            ..Snapshot::default()
        };
        let mut dirty: HashSet<String> = old
            .order
            .iter()
            .filter(|n| !next.revs.contains_key(*n))
            .cloned()
            .collect();
        for i in dependency_order(&pairs) {
            let (name, config, row_rev) = &docs[i];
            let keep = old.entries.get(name).filter(|e| {
                old.revs.get(name) == Some(row_rev)
                    && !(retry && e.state.is_err())
                    && !e.refs.iter().any(|r| dirty.contains(r))
            });
            let entry = match keep {
                Some(e) => e.clone(),
                None => {
                    dirty.insert(name.clone());
                    Arc::new(self.open(&next, name, config.clone()).await)
                }
            };
            next.entries.insert(name.clone(), entry);
        }
        Some(next)
    }

    /// The database's current state inside a write transaction, as a snapshot.
    async fn locked_base(
        &self,
        pg: &PgStore,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<(Arc<Snapshot>, Snapshot, i64), Error> {
        let rev: i64 = tx
            .query_one(
                "UPDATE arrayd_registry SET rev = rev + 1 WHERE id = 1 RETURNING rev",
                &[],
            )
            .await
            .map_err(|e| pg.unavailable(&e))?
            .get(0);
        let old = self.snapshot();
        let mut since = old.rev;
        loop {
            let (_, rows) = pg::rows(tx, since).await.map_err(|e| pg.unavailable(&e))?;
            if let Some(base) = self.synced(&old, rev - 1, rows, false).await {
                return Ok((old, base, rev));
            }
            if since < 0 {
                return Err(Error::Internal(
                    "the registry rows changed while locked".into(),
                ));
            }
            since = -1;
        }
    }

    async fn commit(
        &self,
        pg: &PgStore,
        tx: deadpool_postgres::Transaction<'_>,
        rev: i64,
    ) -> Result<(), Error> {
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &rev.to_string()])
            .await
            .map_err(|e| pg.unavailable(&e))?;
        tx.commit().await.map_err(|e| pg.unavailable(&e))
    }

    /// PUT against the database: validated on its rows, written in one transaction.
    pub(super) async fn put_shared(
        &self,
        pg: &PgStore,
        name: &str,
        config: Value,
        dry_run: bool,
    ) -> Result<PutOutcome, Error> {
        let _w = self.writer.lock().await;
        let mut client = pg.client().await?;
        let tx = client.transaction().await.map_err(|e| pg.unavailable(&e))?;
        let (old, base, rev) = self.locked_base(pg, &tx).await?;
        if let Some(same) = base
            .entries
            .get(name)
            .filter(|e| e.config == config && e.state.is_ok())
        {
            let entry: Arc<Entry> = same.clone();
            self.invalidate_changed(&old, &base);
            self.publish(base);
            return Ok(PutOutcome {
                entry,
                created: false,
            });
        }
        let (entry, mut next, created) = self.plan_put(&base, name, config).await?;
        if dry_run {
            return Ok(PutOutcome { entry, created });
        }
        let text = serde_json::to_string(&entry.config)
            .map_err(|e| Error::Internal(format!("config not serializable: {e}")))?;
        tx.execute(
            "INSERT INTO arrayd_arrays (name, config, position, rev) VALUES ($1, $2, $3, $3)
             ON CONFLICT (name) DO UPDATE SET config = EXCLUDED.config, rev = EXCLUDED.rev",
            &[&name, &text, &rev],
        )
        .await
        .map_err(|e| pg.unavailable(&e))?;
        self.commit(pg, tx, rev).await?;
        next.rev = rev;
        next.revs.insert(name.to_owned(), rev);
        self.invalidate_changed(&old, &next);
        self.publish(next);
        Ok(PutOutcome { entry, created })
    }

    /// DELETE against the database, in one transaction (409 while referred to).
    pub(super) async fn delete_shared(&self, pg: &PgStore, name: &str) -> Result<(), Error> {
        let _w = self.writer.lock().await;
        let mut client = pg.client().await?;
        let tx = client.transaction().await.map_err(|e| pg.unavailable(&e))?;
        let (old, base, rev) = self.locked_base(pg, &tx).await?;
        let mut next = plan_delete(&base, name)?;
        tx.execute("DELETE FROM arrayd_arrays WHERE name = $1", &[&name])
            .await
            .map_err(|e| pg.unavailable(&e))?;
        self.commit(pg, tx, rev).await?;
        next.rev = rev;
        self.invalidate_changed(&old, &next);
        self.publish(next);
        Ok(())
    }

    /// Keeps a shared registry in sync until the process ends: `LISTEN`, poll, and
    /// reconnect with backoff (reloading everything) after a lost connection.
    pub fn watch(self: &Arc<Self>) {
        if !matches!(self.backend, Backend::Pg(_)) {
            return;
        }
        let reg = self.clone();
        tokio::spawn(async move {
            let Backend::Pg(pg) = &reg.backend else {
                return;
            };
            let mut backoff = Duration::from_millis(100);
            loop {
                let began = tokio::time::Instant::now();
                match reg.follow(pg).await {
                    Ok(()) => {}
                    Err(e) => {
                        if reg.stale().is_none() {
                            tracing::warn!(error = %e, "lost the shared registry; serving the last one loaded");
                        }
                        reg.set_stale(Some(e.to_string()));
                    }
                }
                if began.elapsed() > POLL {
                    backoff = Duration::from_millis(100);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }

    /// One `LISTEN` connection's life: a full reload (and every written chunk treated
    /// as changed, since write notices may have been missed), then a refresh per notice
    /// or poll.
    async fn follow(&self, pg: &PgStore) -> Result<(), Error> {
        let writes = self.env.writes.clone();
        let (client, mut notices) = pg.listen(move |notice| writes.receive(notice)).await?;
        self.env.writes.missed_some();
        self.refresh(pg, true).await?;
        if self.stale().is_some() {
            tracing::info!(
                database = pg.shown(),
                "shared registry reconnected and reloaded"
            );
        }
        self.set_stale(None);
        loop {
            match tokio::time::timeout(POLL, notices.recv()).await {
                Ok(None) => return Err(pg.unavailable(&"the notification connection closed")),
                Ok(Some(())) => {}
                Err(_) => {
                    client
                        .simple_query("SELECT 1")
                        .await
                        .map_err(|e| pg.unavailable(&e))?;
                }
            }
            self.refresh(pg, false).await?;
        }
    }
}
