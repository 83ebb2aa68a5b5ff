//! Writes other replicas must hear of. With a shared registry, every acknowledged write
//! is announced (array key and written ROI, one PostgreSQL `NOTIFY`) before it is
//! acknowledged; a replica receiving it moves the generations of the chunks under the
//! ROI, so its caches drop them as the writer's did. A replica that lost its notice
//! connection cannot know what it missed: on reconnecting it moves every chunk of every
//! array it holds open for writing ([`super::WriteTable::missed_some`]).

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::Writable;
use crate::geometry::Roi;

/// Where announcements go (the shared registry's database).
#[async_trait]
pub trait Peers: Send + Sync + std::fmt::Debug {
    /// Sends one announcement to every replica.
    async fn announce(&self, notice: String) -> Result<(), String>;
}

/// One acknowledged write, as replicas send it.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    /// The stored array (its container and path).
    key: String,
    /// The written region, world units.
    roi: Roi,
    /// The announcing replica, which ignores its own notices.
    from: u64,
}

/// This replica's side of the announcements, shared by its open writable arrays.
#[derive(Debug)]
pub struct Announcer {
    me: u64,
    peers: OnceLock<Arc<dyn Peers>>,
}

impl Default for Announcer {
    fn default() -> Self {
        Self {
            me: RandomState::new().hash_one(std::process::id()),
            peers: OnceLock::new(),
        }
    }
}

impl Announcer {
    /// Announces writes to `peers` from now on (set once, when the registry is shared).
    pub fn connect(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// Tells the other replicas that `roi` of the array `key` was written. A failure is
    /// logged, not returned: the data is durable, and a replica that missed the notice
    /// lost its connection too, so it resets every generation when it reconnects.
    pub(super) async fn announce(&self, key: &str, roi: &Roi) {
        let Some(peers) = self.peers.get() else {
            return;
        };
        let notice = Notice {
            key: key.to_owned(),
            roi: roi.clone(),
            from: self.me,
        };
        let Ok(text) = serde_json::to_string(&notice) else {
            return;
        };
        if let Err(e) = peers.announce(text).await {
            tracing::warn!(array = key, %roi, error = %e, "other replicas were not told of a write");
        }
    }

    /// Applies another replica's notice to `open` (the arrays open here by key).
    pub(super) fn receive(&self, text: &str, open: impl Fn(&str) -> Option<Arc<Writable>>) {
        let notice: Notice = match serde_json::from_str(text) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a malformed write notice");
                return;
            }
        };
        if notice.from == self.me {
            return;
        }
        if let Some(w) = open(&notice.key) {
            w.written_elsewhere(&notice.roi);
        }
    }
}
