//! The registry's rows in PostgreSQL (`--registry postgres://…`): a versioned schema,
//! a small connection pool, and a dedicated `LISTEN` connection for change notices.
//!
//! Every write takes the one row of `arrayd_registry` (`UPDATE … rev = rev + 1`), so
//! writes of all replicas are serialized and each sees every committed row.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::error::Error;
use crate::write::peers::Peers;

/// The notification channel every registry change signals on.
pub const CHANNEL: &str = "arrayd_registry";

/// The notification channel acknowledged array writes are announced on.
const WRITES: &str = "arrayd_writes";

/// Schema migrations; entry `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE arrayd_registry (id integer PRIMARY KEY CHECK (id = 1), rev bigint NOT NULL);
    INSERT INTO arrayd_registry VALUES (1, 0);
    CREATE TABLE arrayd_arrays (
        name text PRIMARY KEY,
        config text NOT NULL,
        position bigint NOT NULL,
        rev bigint NOT NULL
    );
"];

/// Serializes migrations of replicas starting at once.
const MIGRATION_LOCK: i64 = 0x6172_7261_7964;

/// One stored config. `config` is `None` when the caller already holds this revision.
#[derive(Debug)]
pub struct Row {
    /// The registered name.
    pub name: String,
    /// The config as the client sent it.
    pub config: Option<Value>,
    /// The revision of the registry that last wrote this row.
    pub rev: i64,
}

/// The database behind a shared registry.
#[derive(Debug)]
pub struct PgStore {
    config: tokio_postgres::Config,
    pool: Pool,
    shown: String,
}

impl PgStore {
    /// Parses the connection string; connects lazily.
    ///
    /// # Errors
    /// A message that names the bad part, never the string itself.
    pub fn new(url: &str) -> Result<Self, String> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| format!("--registry is not a PostgreSQL connection string: {e}"))?;
        config
            .connect_timeout(Duration::from_secs(3))
            .keepalives_idle(Duration::from_secs(10))
            .application_name("arrayd");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(4)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(3)))
            .create_timeout(Some(Duration::from_secs(3)))
            .recycle_timeout(Some(Duration::from_secs(3)))
            .build()
            .map_err(|e| format!("--registry: cannot build the connection pool: {e}"))?;
        let shown = shown(&config);
        Ok(Self {
            config,
            pool,
            shown,
        })
    }

    /// `postgres://user@host:port/db`: where the registry lives, without the password.
    #[must_use]
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// A 503 naming the database (never its password) and what failed.
    #[must_use]
    pub fn unavailable(&self, e: &dyn std::fmt::Display) -> Error {
        Error::Unavailable(format!(
            "the shared registry ({}) cannot be reached ({e}); nothing was changed, retry shortly",
            self.shown
        ))
    }

    /// A pooled connection, or a 503.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the database cannot be reached within 3 s.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        self.pool.get().await.map_err(|e| self.unavailable(&e))
    }

    /// Creates or upgrades the schema to the newest version.
    ///
    /// # Errors
    /// When the database cannot be reached or refuses a statement.
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.unavailable(&e))?;
        let run = async {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS arrayd_schema (version integer NOT NULL)")
                .await?;
            let version: i32 = tx
                .query_one("SELECT coalesce(max(version), 0) FROM arrayd_schema", &[])
                .await?
                .get(0);
            let from = usize::try_from(version).unwrap_or(0);
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
                tx.batch_execute(sql).await?;
                let to = i32::try_from(i + 1).unwrap_or(i32::MAX);
                tx.execute("INSERT INTO arrayd_schema VALUES ($1)", &[&to])
                    .await?;
                tracing::info!(version = to, "registry schema migrated");
            }
            Ok::<_, tokio_postgres::Error>(())
        };
        run.await.map_err(|e| self.unavailable(&e))?;
        tx.commit().await.map_err(|e| self.unavailable(&e))
    }

    /// Where this replica announces its array writes.
    #[must_use]
    pub fn peers(&self) -> Arc<dyn Peers> {
        Arc::new(PgPeers {
            pool: self.pool.clone(),
        })
    }

    /// Opens the `LISTEN` connection; the receiver yields once per registry notice and
    /// closes when the connection is lost. Write notices go to `on_write` as they come.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn listen(
        &self,
        on_write: impl Fn(&str) + Send + 'static,
    ) -> Result<(tokio_postgres::Client, mpsc::Receiver<()>), Error> {
        let (client, mut conn) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) if n.channel() == WRITES => {
                        on_write(n.payload());
                    }
                    // A full channel already holds a pending notice: that one suffices.
                    Ok(AsyncMessage::Notification(_)) => {
                        let _ = tx.try_send(());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "registry notification connection lost");
                        break;
                    }
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {WRITES}"))
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok((client, rx))
    }
}

/// Announces writes with `NOTIFY` through the registry's pool.
#[derive(Debug)]
struct PgPeers {
    pool: Pool,
}

#[async_trait]
impl Peers for PgPeers {
    async fn announce(&self, notice: String) -> Result<(), String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&WRITES, &notice])
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// The registry's revision and every row; configs only of rows newer than `since`.
///
/// # Errors
/// Any database error, or a stored config that is not JSON.
pub async fn rows(
    client: &impl GenericClient,
    since: i64,
) -> Result<(i64, Vec<Row>), tokio_postgres::Error> {
    let rev: i64 = client
        .query_one("SELECT rev FROM arrayd_registry WHERE id = 1", &[])
        .await?
        .get(0);
    let found = client
        .query(
            "SELECT name, rev, CASE WHEN rev > $1 THEN config END FROM arrayd_arrays ORDER BY position",
            &[&since],
        )
        .await?;
    let rows = found
        .iter()
        .map(|r| Row {
            name: r.get(0),
            rev: r.get(1),
            // A row that is not JSON was not written by arrayd: it opens as unavailable.
            config: r
                .get::<_, Option<String>>(2)
                .map(|t| serde_json::from_str(&t).unwrap_or_else(|e| Value::String(e.to_string()))),
        })
        .collect();
    Ok((rev, rows))
}

/// Where `config` points, without its password.
fn shown(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or("-"),
        config.get_dbname().unwrap_or("-")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_never_holds_the_password() {
        let store = PgStore::new("postgres://arrayd:s3cret-pw@db.example:6543/reg").unwrap();
        assert_eq!(store.shown(), "postgres://arrayd@db.example:6543/reg");
        let e = store.unavailable(&"connection refused").to_string();
        assert!(!e.contains("s3cret-pw"), "{e}");
        assert!(!format!("{store:?}").contains("s3cret-pw"));
        let bad = PgStore::new("postgres://u:s3cret-pw@h/db?sslmode=bogus").unwrap_err();
        assert!(!bad.contains("s3cret-pw"), "{bad}");
    }
}
