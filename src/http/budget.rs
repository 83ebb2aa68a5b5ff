//! The response budget: ROI responses reserve their size before they are built and hold
//! it until the body has been sent (or the client has gone), so the bytes of responses
//! in flight stay within `--max-inflight-bytes` however many clients stall.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::limits::{Exceeded, Limit};

/// Accounting unit: permits are KiB, so a `u32` permit count covers 4 TiB.
const UNIT: u64 = 1024;

/// Shared budget of response bytes.
#[derive(Debug, Clone)]
pub struct ResponseBudget {
    permits: Arc<Semaphore>,
    total: u64,
    wait: Duration,
}

/// A reservation; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl ResponseBudget {
    /// A budget of `total` bytes; a reservation waits up to `wait` before a 503.
    #[must_use]
    pub fn new(total: u64, wait: Duration) -> Self {
        let units = usize::try_from((total / UNIT).max(1)).unwrap_or(Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(units.min(Semaphore::MAX_PERMITS))),
            total,
            wait,
        }
    }

    /// Bytes currently reserved.
    #[must_use]
    pub fn reserved(&self) -> u64 {
        let free = u64::try_from(self.permits.available_permits()).unwrap_or(0);
        self.total.saturating_sub(free.saturating_mul(UNIT))
    }

    /// Reserves `bytes`, waiting while other responses hold the budget.
    ///
    /// # Errors
    /// [`Limit::MaxInflightBytes`] (503) when the budget stays taken for the wait time,
    /// or when `bytes` exceed the whole budget.
    pub async fn reserve(&self, bytes: u128) -> Result<Reservation, Exceeded> {
        let refused = || Exceeded {
            limit: Limit::MaxInflightBytes,
            what: "the bytes of ROI responses in flight with this one".to_owned(),
            value: bytes.saturating_add(u128::from(self.reserved())),
            max: self.total,
            hint: "retry shortly, or request a smaller ROI",
        };
        let units =
            u32::try_from(bytes.div_ceil(u128::from(UNIT)).max(1)).map_err(|_| refused())?;
        let acquire = self.permits.clone().acquire_many_owned(units);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(Reservation { _permit: permit }),
            _ => Err(refused()),
        }
    }
}

impl Reservation {
    /// `body`, holding this reservation until it has been sent or dropped.
    pub fn hold(self, body: Body) -> Body {
        Body::new(Held {
            inner: body,
            _reservation: self,
        })
    }
}

struct Held {
    inner: Body,
    _reservation: Reservation,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_then_refuse_and_bodies_release() {
        let budget = ResponseBudget::new(1 << 20, Duration::from_millis(50));
        let a = budget.reserve(600 << 10).await.unwrap();
        assert_eq!(budget.reserved(), 600 << 10);
        let e = budget.reserve(600 << 10).await.unwrap_err();
        assert_eq!(e.limit, Limit::MaxInflightBytes);
        assert!(budget.reserve(u128::MAX).await.is_err());
        let body = a.hold(Body::from(Bytes::from_static(b"x")));
        assert!(
            budget.reserve(600 << 10).await.is_err(),
            "the body holds it"
        );
        drop(body);
        assert_eq!(budget.reserved(), 0);
        assert!(budget.reserve(900 << 10).await.is_ok());
    }
}
