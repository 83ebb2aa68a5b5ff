//! [`Payload`]: a response body made of parts sent one after another, never joined (a
//! `.npy` header and the voxel bytes it describes, shared with the volume itself).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// The bytes of one representation, in parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload(Vec<Bytes>);

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Self(vec![b])
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Bytes::from(b).into()
    }
}

impl Payload {
    /// The parts, in order.
    #[must_use]
    pub fn new(parts: Vec<Bytes>) -> Self {
        Self(parts)
    }

    /// Total length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    /// True when there are no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes `start..=end` (inside [`Self::len`]), still without copying.
    #[must_use]
    pub fn slice(&self, start: usize, end: usize) -> Payload {
        let mut parts = Vec::new();
        let mut at = 0;
        for part in &self.0 {
            let (lo, hi) = (at, at + part.len());
            at = hi;
            let (from, to) = (start.max(lo), (end + 1).min(hi));
            if from < to {
                parts.push(part.slice(from - lo..to - lo));
            }
        }
        Payload(parts)
    }

    /// The payload as a body with an exact length (so it is sent with `Content-Length`).
    pub fn into_body(mut self) -> Body {
        if self.0.len() == 1 {
            return Body::from(self.0.remove(0));
        }
        let remaining = self.len() as u64;
        Body::new(Parts {
            rest: self.0.into(),
            remaining,
        })
    }
}

/// The body of a payload with several parts: one frame per part.
struct Parts {
    rest: VecDeque<Bytes>,
    remaining: u64,
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.rest.pop_front();
        if let Some(part) = &next {
            self.remaining -= part.len() as u64;
        }
        Poll::Ready(next.map(|part| Ok(Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn two() -> Payload {
        Payload::new(vec![
            Bytes::from_static(b"head"),
            Bytes::from_static(b"0123456789"),
        ])
    }

    #[test]
    fn slices_cross_parts() {
        let p = two();
        assert_eq!(p.len(), 14);
        let joined = |p: Payload| p.0.concat();
        assert_eq!(joined(p.slice(2, 5)), b"ad01");
        assert_eq!(joined(p.slice(0, 3)), b"head");
        assert_eq!(joined(p.slice(4, 13)), b"0123456789");
        assert_eq!(joined(p.slice(13, 13)), b"9");
        assert_eq!(p.slice(5, 6).0.len(), 1);
    }

    #[tokio::test]
    async fn bodies_have_exact_length_and_all_bytes() {
        let body = two().into_body();
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(14));
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], b"head0123456789");
        let one = Payload::from(Bytes::from_static(b"x")).into_body();
        assert_eq!(http_body::Body::size_hint(&one).exact(), Some(1));
    }
}
