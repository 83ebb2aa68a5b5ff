//! The ROI query of `GET /v1/arrays/{name}/roi` (`offset`, `shape`, `units`, `format`,
//! `fill`), parsed and bounds-checked before any work: a ROI that would overflow the
//! world bound is a 400, never a wrapped size.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::extract::QueryParams;
use crate::error::{Error, Result};
use crate::geometry::{Coord, MAX_WORLD, Roi};

/// Response body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A `.npy` file.
    Npy,
    /// Little-endian C-order bytes with `X-Array-*` headers.
    Raw,
}

/// A parsed ROI query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoiQuery {
    /// Offset and shape as given (`None`: the whole array).
    bounds: Option<(Vec<i64>, Vec<i64>)>,
    /// `units=voxels`.
    voxels: bool,
    /// `format=`, when given.
    format: Option<Format>,
    /// `fill=` as given; the view parses it for the array's dtype ([`crate::volume::Fill`]).
    fill: Option<String>,
}

const KEYS: [&str; 5] = ["offset", "shape", "units", "format", "fill"];

fn parse_list(key: &str, value: &str) -> Result<Vec<i64>> {
    value
        .split(',')
        .map(|p| p.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|v| (1..=3).contains(&v.len()))
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "{key}={value:?} must be 1 to 3 comma-separated integers in z,y,x order"
            ))
        })
}

impl RoiQuery {
    /// Parses the query parameters.
    ///
    /// # Errors
    /// 400 for an unknown key or a malformed value, naming what is allowed.
    pub fn parse(query: &QueryParams) -> Result<Self> {
        query.only(&KEYS)?;
        let voxels = match query.get("units") {
            None | Some("world") => false,
            Some("voxels") => true,
            Some(other) => {
                return Err(Error::BadRequest(format!(
                    "units={other:?} must be world or voxels"
                )));
            }
        };
        let format = match query.get("format") {
            None => None,
            Some("npy") => Some(Format::Npy),
            Some("raw") => Some(Format::Raw),
            Some(other) => {
                return Err(Error::BadRequest(format!(
                    "format={other:?} is not supported; use npy or raw"
                )));
            }
        };
        let bounds = match (query.get("offset"), query.get("shape")) {
            (None, None) => None,
            (Some(o), Some(s)) => Some((parse_list("offset", o)?, parse_list("shape", s)?)),
            _ => {
                return Err(Error::BadRequest(
                    "give both offset and shape (z,y,x), or neither for the whole array".into(),
                ));
            }
        };
        Ok(Self {
            bounds,
            voxels,
            format,
            fill: query.get("fill").map(str::to_owned),
        })
    }

    /// Parses a raw query string (what follows `?`).
    ///
    /// # Errors
    /// As [`RoiQuery::parse`], and 400 for a string that is not a query.
    pub fn from_query_str(query: &str) -> Result<Self> {
        Self::parse(&QueryParams::from_query_str(query)?)
    }

    /// `fill=` as given.
    #[must_use]
    pub fn fill(&self) -> Option<&str> {
        self.fill.as_deref()
    }

    /// The requested ROI in world units for an array of `voxel_size` whose ROI is `whole`.
    ///
    /// # Errors
    /// 400 for the wrong number of axes, a non-positive shape, or a ROI beyond the world
    /// bound (±2^48 world units).
    pub fn roi(&self, voxel_size: &Coord, whole: &Roi) -> Result<Roi> {
        let Some((offset, shape)) = &self.bounds else {
            return Ok(whole.clone());
        };
        let dims = voxel_size.dims();
        for (key, v) in [("offset", offset), ("shape", shape)] {
            if v.len() != dims {
                return Err(Error::BadRequest(format!(
                    "{key} has {} values but the array has {dims} axes (z,y,x order)",
                    v.len()
                )));
            }
        }
        let (offset, shape) = (Coord::new(offset.clone()), Coord::new(shape.clone()));
        if shape.iter().any(|&s| s <= 0) {
            return Err(Error::BadRequest(format!(
                "shape {shape} must be positive on every axis"
            )));
        }
        let scaled = if self.voxels {
            offset
                .checked_mul(voxel_size)
                .zip(shape.checked_mul(voxel_size))
                .map(|(o, s)| Roi::new(o, s))
        } else {
            Some(Roi::new(offset.clone(), shape.clone()))
        };
        let units = if self.voxels { "voxels" } else { "world units" };
        scaled
            .filter(|roi| roi.check_world().is_ok())
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "offset {offset} shape {shape} ({units}) reaches beyond ±{MAX_WORLD} world units, the largest extent this server handles"
                ))
            })
    }

    /// The response format: `format=`, else `Accept` (`application/octet-stream` → raw).
    #[must_use]
    pub fn format(&self, headers: &HeaderMap) -> Format {
        self.format.unwrap_or_else(|| {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if accept.contains("application/octet-stream") && !accept.contains("application/x-npy")
            {
                Format::Raw
            } else {
                Format::Npy
            }
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RoiQuery {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        Self::parse(&QueryParams::from_request_parts(parts, state).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roi(q: &str) -> Result<Roi> {
        RoiQuery::from_query_str(q)?.roi(
            &Coord::from([4, 4, 4]),
            &Roi::new([0, 0, 0], [400, 400, 400]),
        )
    }

    #[test]
    fn world_and_voxel_units() {
        assert_eq!(
            roi("offset=4,8,12&shape=4,4,4").unwrap(),
            Roi::new([4, 8, 12], [4, 4, 4])
        );
        assert_eq!(
            roi("offset=1,2,3&shape=1,1,1&units=voxels").unwrap(),
            Roi::new([4, 8, 12], [4, 4, 4])
        );
        assert_eq!(roi("").unwrap(), Roi::new([0, 0, 0], [400, 400, 400]));
    }

    #[test]
    fn extreme_integers_are_400_not_wrapped() {
        for q in [
            "offset=0,0,0&shape=4611686018427387904,4611686018427387904,2048",
            "offset=0,0,0&shape=2305843009213693952,4611686018427387904,1&units=voxels",
            "offset=9223372036854775807,0,0&shape=1,1,1",
            "offset=-9223372036854775808,0,0&shape=1,1,1",
            "offset=0,0,0&shape=140737488355328,1,1&units=voxels",
        ] {
            let e = roi(q).unwrap_err();
            assert!(matches!(e, Error::BadRequest(_)), "{q}: {e}");
        }
        assert!(roi("offset=0,0,0&shape=99999999999999999999,1,1").is_err());
    }

    #[test]
    fn malformed_values_name_what_is_allowed() {
        for (q, needle) in [
            ("offset=1,2&shape=1,1", "3 axes"),
            ("offset=1,2,3", "both offset and shape"),
            ("offset=0,0,0&shape=0,1,1", "positive"),
            ("units=parsecs", "world or voxels"),
            ("format=tiff", "npy or raw"),
            ("colour=red", "unknown query parameter"),
            ("offset=a,b,c&shape=1,1,1", "integers"),
        ] {
            let text = roi(q).unwrap_err().to_string();
            assert!(text.contains(needle), "{q}: {text}");
        }
    }
}
