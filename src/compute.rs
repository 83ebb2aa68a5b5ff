//! The bounded blocking pool: decoding and kernels run off the async runtime, with a
//! fixed number in flight (`spec/api.md`, "Evaluation and the cache").

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::eval::EvalError;

/// Runs CPU-bound closures on the blocking pool, at most `permits` at a time.
#[derive(Debug, Clone)]
pub struct Compute {
    permits: Arc<Semaphore>,
    max_wait: Duration,
}

impl Compute {
    /// A pool with `permits` concurrent jobs; a job that waits longer than `max_wait` for
    /// a slot fails with [`EvalError::Overloaded`].
    #[must_use]
    pub fn new(permits: usize, max_wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            max_wait,
        }
    }

    /// Runs `job` on the blocking pool once a slot is free.
    ///
    /// # Errors
    /// [`EvalError::Overloaded`] when no slot frees up in time; the job's own error; or
    /// [`EvalError::Internal`] when the job panicked.
    pub async fn run<R, F>(&self, job: F) -> Result<R, EvalError>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R, EvalError> + Send + 'static,
    {
        let permit = tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| EvalError::Overloaded)?
            .map_err(|_| EvalError::Internal("compute pool closed".into()))?;
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
        let pool = Compute::new(1, Duration::from_millis(50));
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
    }
}
