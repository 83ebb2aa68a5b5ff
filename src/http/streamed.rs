//! [`Streamed`]: a body of parts computed ahead on their own tasks and sent in order, so a
//! big ROI is evaluated on every runtime thread while its first parts are on the wire,
//! and never held whole.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::eval::EvalError;

/// One part still to compute.
pub type Part = Pin<Box<dyn Future<Output = Result<Bytes, EvalError>> + Send>>;

/// The body: `ready` parts first, then the `running` ones in order as they finish (at
/// most `ahead` running), then the `waiting` ones. Exactly `remaining` bytes.
pub struct Streamed {
    ready: VecDeque<Bytes>,
    running: VecDeque<JoinHandle<Result<Bytes, EvalError>>>,
    waiting: VecDeque<Part>,
    ahead: usize,
    remaining: u64,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("ready", &self.ready.len())
            .field("running", &self.running.len())
            .field("waiting", &self.waiting.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl Streamed {
    /// `parts` (`len` bytes in all) after `head`, up to `ahead` of them computed at once.
    /// Starts the first ones.
    #[must_use]
    pub fn new(head: Option<Bytes>, parts: Vec<Part>, ahead: usize, len: u64) -> Self {
        let mut body = Self {
            remaining: len + head.as_ref().map_or(0, |h| h.len() as u64),
            ready: head.into_iter().collect(),
            running: VecDeque::new(),
            waiting: parts.into(),
            ahead: ahead.max(1),
        };
        body.start();
        body
    }

    fn start(&mut self) {
        while self.running.len() < self.ahead
            && let Some(part) = self.waiting.pop_front()
        {
            self.running.push_back(tokio::spawn(part));
        }
    }

    /// Waits for the first computed part, so that its failure can still be the response
    /// (later failures cut the body short: the client sees fewer bytes than
    /// `Content-Length`).
    ///
    /// # Errors
    /// The first part's error.
    pub async fn first(&mut self) -> Result<(), EvalError> {
        let Some(handle) = self.running.pop_front() else {
            return Ok(());
        };
        let part = joined(handle.await)?;
        self.ready.push_back(part);
        self.start();
        Ok(())
    }
}

fn joined(r: Result<Result<Bytes, EvalError>, tokio::task::JoinError>) -> Result<Bytes, EvalError> {
    r.map_err(|e| EvalError::Internal(format!("a part of the response failed: {e}")))?
}

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = EvalError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, EvalError>>> {
        let part = if let Some(part) = self.ready.pop_front() {
            part
        } else {
            let Some(handle) = self.running.front_mut() else {
                return Poll::Ready(None);
            };
            let done = ready!(Pin::new(handle).poll(cx));
            self.running.pop_front();
            self.start();
            match joined(done) {
                Ok(part) => part,
                Err(e) => {
                    tracing::warn!(error = %e, "a streamed response was cut short");
                    self.waiting.clear();
                    for handle in self.running.drain(..) {
                        handle.abort();
                    }
                    return Poll::Ready(Some(Err(e)));
                }
            }
        };
        self.remaining = self.remaining.saturating_sub(part.len() as u64);
        Poll::Ready(Some(Ok(Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_empty() && self.running.is_empty() && self.waiting.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

impl Drop for Streamed {
    /// A client gone away: the parts still computing are not needed.
    fn drop(&mut self) {
        for handle in &self.running {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::time::Duration;

    fn part(text: &'static str, delay_ms: u64) -> Part {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            Ok(Bytes::from_static(text.as_bytes()))
        })
    }

    #[tokio::test]
    async fn parts_arrive_in_order_with_exact_length() {
        // later parts finish first; the body still has them in order
        let parts = vec![part("aa", 30), part("bbb", 1), part("c", 1), part("dd", 5)];
        let mut body = Streamed::new(Some(Bytes::from_static(b"H")), parts, 2, 8);
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(9));
        body.first().await.unwrap();
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], b"Haabbbcdd");
    }

    #[tokio::test]
    async fn the_first_failure_is_returned_and_a_later_one_ends_the_body() {
        let fail: Part = Box::pin(async { Err(EvalError::Storage("disk".into())) });
        let mut body = Streamed::new(None, vec![fail, part("x", 1)], 2, 2);
        let err = body.first().await.unwrap_err();
        assert!(err.to_string().contains("disk"), "{err}");

        let fail: Part = Box::pin(async { Err(EvalError::Storage("late".into())) });
        let mut body = Streamed::new(None, vec![part("x", 1), fail, part("y", 1)], 1, 3);
        body.first().await.unwrap();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"x");
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("late"), "{err}");
    }
}
