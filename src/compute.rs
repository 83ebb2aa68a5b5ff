//! The bounded blocking pool: decoding and kernels run off the async runtime, with a
//! fixed number in flight (`spec/api.md`, "Evaluation and the cache").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::eval::EvalError;

/// Runs CPU-bound closures on the blocking pool, at most `permits` at a time, with a
/// bounded queue in front: overload is shed as 503 instead of piling up.
#[derive(Debug, Clone)]
pub struct Compute {
    permits: Arc<Semaphore>,
    max_wait: Duration,
    max_queued: usize,
    queued: Arc<AtomicUsize>,
}

/// One job waiting for a slot; counted in [`Compute::queued`] while alive.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Compute {
    /// A pool with `permits` concurrent jobs. A job finding `max_queued` others already
    /// waiting, or waiting longer than `max_wait` for a slot, fails with
    /// [`EvalError::Overloaded`].
    #[must_use]
    pub fn new(permits: usize, max_wait: Duration, max_queued: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            max_wait,
            max_queued,
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Jobs waiting for a slot now.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Runs `job` on the blocking pool once a slot is free.
    ///
    /// # Errors
    /// [`EvalError::Overloaded`] when the queue is full or no slot frees up in time; the
    /// job's own error; or [`EvalError::Internal`] when the job panicked.
    pub async fn run<R, F>(&self, job: F) -> Result<R, EvalError>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R, EvalError> + Send + 'static,
    {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::Relaxed) >= self.max_queued {
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                    return Err(EvalError::Overloaded);
                }
                let _waiting = Queued(self.queued.clone());
                tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| EvalError::Overloaded)?
                    .map_err(|_| EvalError::Internal("compute pool closed".into()))?
            }
        };
        let handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        });
        match handle.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(ToString::to_string)
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(panic = %msg, "compute job panicked");
                Err(EvalError::Internal(format!(
                    "a compute job panicked: {msg}"
                )))
            }
            Err(_) => Err(EvalError::Internal("compute job was cancelled".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panics_become_errors_and_saturation_times_out() {
        let pool = Compute::new(1, Duration::from_millis(50), 8);
        let err = pool
            .run::<(), _>(|| panic!("boom"))
            .await
            .expect_err("panic must surface as an error");
        assert!(matches!(err, EvalError::Internal(ref m) if m.contains("boom")));
        let blocker = pool.clone();
        let slow = tokio::spawn(async move {
            blocker
                .run(|| {
                    std::thread::sleep(Duration::from_millis(400));
                    Ok(1)
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let busy = pool.run(|| Ok(2)).await;
        assert!(matches!(busy, Err(EvalError::Overloaded)));
        assert_eq!(slow.await.unwrap().unwrap(), 1);
        assert_eq!(pool.run(|| Ok(3)).await.unwrap(), 3);
        assert_eq!(pool.queued(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = Compute::new(1, Duration::from_secs(5), 2);
        let busy = |p: &Compute| {
            let p = p.clone();
            tokio::spawn(async move {
                p.run(|| {
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                })
                .await
            })
        };
        let running = busy(&pool);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = [busy(&pool), busy(&pool)];
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.queued(), 2);
        let t = std::time::Instant::now();
        assert!(matches!(
            pool.run(|| Ok(())).await,
            Err(EvalError::Overloaded)
        ));
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "refused without waiting"
        );
        running.await.unwrap().unwrap();
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        assert_eq!(pool.queued(), 0);
    }
}
