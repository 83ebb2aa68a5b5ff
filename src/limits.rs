//! Named limits on what a request or a config can make the server allocate or do
//! (`spec/api.md`, "Limits"). Each is a flag; hitting one is a problem that names it.

use serde::Serialize;

/// The limits in force (from the `--max-*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest decoded chunk of any array, in bytes.
    pub max_chunk_bytes: u64,
    /// Most grid chunks one read may touch.
    pub max_chunks_per_request: u64,
    /// Most sources one node may combine (`concat`, `sum`, `merge_instances`, `logical_or`).
    pub max_fan_in: usize,
    /// Deepest chain (a source is one level; every wrapper adds one).
    pub max_chain_depth: usize,
    /// Largest response, in bytes, of one ROI read.
    pub max_roi_bytes: u64,
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_chunk_bytes: 128 << 20,
            max_chunks_per_request: 16_384,
            max_fan_in: 64,
            max_chain_depth: 32,
            max_roi_bytes: 512 << 20,
            max_body_bytes: 16 << 20,
        }
    }
}

/// Which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// `--max-chunk-bytes`.
    MaxChunkBytes,
    /// `--max-chunks-per-request`.
    MaxChunksPerRequest,
    /// `--max-fan-in`.
    MaxFanIn,
    /// `--max-chain-depth`.
    MaxChainDepth,
    /// `--max-roi-bytes`.
    MaxRoiBytes,
    /// `--max-inflight-bytes`.
    MaxInflightBytes,
    /// `--max-body-bytes`.
    MaxBodyBytes,
    /// `--max-connections`.
    MaxConnections,
}

impl Limit {
    /// The flag that sets it, e.g. `--max-chunk-bytes`.
    #[must_use]
    pub fn flag(self) -> &'static str {
        match self {
            Limit::MaxChunkBytes => "--max-chunk-bytes",
            Limit::MaxChunksPerRequest => "--max-chunks-per-request",
            Limit::MaxFanIn => "--max-fan-in",
            Limit::MaxChainDepth => "--max-chain-depth",
            Limit::MaxRoiBytes => "--max-roi-bytes",
            Limit::MaxInflightBytes => "--max-inflight-bytes",
            Limit::MaxBodyBytes => "--max-body-bytes",
            Limit::MaxConnections => "--max-connections",
        }
    }
}

/// A limit that a request or config would exceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {value}, above the server's {} of {max} ({}); {hint}", .limit.flag().trim_start_matches("--"), .limit.flag())]
pub struct Exceeded {
    /// The limit.
    pub limit: Limit,
    /// What was measured ("the ROI's size in bytes").
    pub what: String,
    /// The measured amount (saturated).
    pub value: u128,
    /// The limit's value.
    pub max: u64,
    /// What the client can do instead.
    pub hint: &'static str,
}

impl Limits {
    /// Checks one decoded chunk's size.
    ///
    /// # Errors
    /// [`Limit::MaxChunkBytes`].
    pub fn chunk_bytes(&self, bytes: u128) -> Result<(), Exceeded> {
        check(
            Limit::MaxChunkBytes,
            "one chunk's decoded size in bytes",
            bytes,
            self.max_chunk_bytes,
            "give the config a smaller chunk_shape",
        )
    }

    /// Checks how many chunks one read touches.
    ///
    /// # Errors
    /// [`Limit::MaxChunksPerRequest`].
    pub fn chunk_count(&self, chunks: u128) -> Result<(), Exceeded> {
        check(
            Limit::MaxChunksPerRequest,
            "the number of chunks the read touches",
            chunks,
            self.max_chunks_per_request,
            "read a smaller ROI, or give the array a larger chunk_shape",
        )
    }

    /// Checks a ROI response's size.
    ///
    /// # Errors
    /// [`Limit::MaxRoiBytes`].
    pub fn roi_bytes(&self, bytes: u128) -> Result<(), Exceeded> {
        check(
            Limit::MaxRoiBytes,
            "the ROI's size in bytes",
            bytes,
            self.max_roi_bytes,
            "request a smaller ROI",
        )
    }

    /// Checks a request body's size.
    ///
    /// # Errors
    /// [`Limit::MaxBodyBytes`].
    pub fn body_bytes(&self, bytes: u128) -> Result<(), Exceeded> {
        if bytes > u128::from(self.max_body_bytes) {
            Err(Exceeded {
                value: bytes,
                ..self.body_too_large()
            })
        } else {
            Ok(())
        }
    }

    /// The refusal of a body that grew past `--max-body-bytes` while being read.
    #[must_use]
    pub fn body_too_large(&self) -> Exceeded {
        Exceeded {
            limit: Limit::MaxBodyBytes,
            what: "the request body's size in bytes".to_owned(),
            value: u128::from(self.max_body_bytes) + 1,
            max: self.max_body_bytes,
            hint: "send a smaller body",
        }
    }

    /// Checks a node's number of sources.
    ///
    /// # Errors
    /// [`Limit::MaxFanIn`].
    pub fn fan_in(&self, sources: usize) -> Result<(), Exceeded> {
        check(
            Limit::MaxFanIn,
            "the number of sources",
            sources as u128,
            self.max_fan_in as u64,
            "combine fewer sources per node (nest them)",
        )
    }

    /// Checks a chain's depth.
    ///
    /// # Errors
    /// [`Limit::MaxChainDepth`].
    pub fn depth(&self, depth: usize) -> Result<(), Exceeded> {
        check(
            Limit::MaxChainDepth,
            "the chain's depth",
            depth as u128,
            self.max_chain_depth as u64,
            "register a shallower chain",
        )
    }
}

fn check(
    limit: Limit,
    what: &str,
    value: u128,
    max: u64,
    hint: &'static str,
) -> Result<(), Exceeded> {
    if value > u128::from(max) {
        Err(Exceeded {
            limit,
            what: what.to_owned(),
            value,
            max,
            hint,
        })
    } else {
        Ok(())
    }
}

/// Bytes of a volume of `shape` elements of `elem` bytes, saturating (never wraps).
#[must_use]
pub fn volume_bytes(shape: &[usize], elem: usize) -> u128 {
    shape
        .iter()
        .try_fold(elem as u128, |acc, &s| acc.checked_mul(s as u128))
        .unwrap_or(u128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_saturate_instead_of_wrapping() {
        let huge = usize::MAX;
        assert_eq!(volume_bytes(&[huge, huge, huge], 8), u128::MAX);
        assert_eq!(volume_bytes(&[64, 64, 64], 2), 524_288);
        assert_eq!(volume_bytes(&[], 4), 4);
    }

    #[test]
    fn messages_name_the_flag() {
        let e = Limits::default().chunk_bytes(u128::MAX).unwrap_err();
        assert_eq!(e.limit, Limit::MaxChunkBytes);
        let text = e.to_string();
        assert!(text.contains("--max-chunk-bytes"), "{text}");
        assert!(text.contains("134217728"), "{text}");
        assert!(Limits::default().fan_in(64).is_ok());
        assert_eq!(
            Limits::default().fan_in(65).unwrap_err().limit.flag(),
            "--max-fan-in"
        );
    }
}
