//! The geometry of a stored array (voxel size, offset, axes, units) from what its
//! metadata says, checked against its shape (`spec/arrays.md`, "zarr").

use super::layout::{self, Layout};
use super::metadata::FoundGeometry;
use crate::geometry::Coord;

/// Geometry of the stored array after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    /// Channels when the first axis is `c`.
    pub num_channels: Option<usize>,
    /// Voxel size, spatial.
    pub voxel_size: Coord,
    /// World coordinate of voxel 0 (rounded onto the voxel grid).
    pub offset: Coord,
    /// Units per spatial axis, z,y,x.
    pub units: Option<Vec<String>>,
    /// How stored axes become served ones.
    pub layout: Layout,
}

fn integral(values: &[f64], what: &str) -> Result<Vec<i64>, String> {
    values
        .iter()
        .map(|&v| {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "checked integral and in range below"
            )]
            let i = v.round() as i64;
            if (v - v.round()).abs() > 1e-9 || !v.is_finite() {
                Err(format!("{what} {values:?} must be integers"))
            } else {
                Ok(i)
            }
        })
        .collect()
}

/// Validates found geometry against the stored shape.
///
/// # Errors
/// A reason naming the inconsistency.
pub fn validate_geometry(
    found: &FoundGeometry,
    config_axes: Option<&[String]>,
    shape: &[u64],
) -> Result<Geometry, String> {
    let ndim = shape.len();
    if !(1..=layout::MAX_DIMS).contains(&ndim) {
        return Err(format!(
            "the array has {ndim} dimensions; 1-3 spatial axes plus optional channel and singleton time axes are supported"
        ));
    }
    let axes: Vec<String> = config_axes
        .map(<[String]>::to_vec)
        .or_else(|| found.axes.clone())
        .unwrap_or_else(|| Layout::default_axes(ndim));
    let layout = Layout::new(&axes, shape)?;
    let spatial = layout.spatial_dims();
    let num_channels = layout
        .channel()
        .map(|c| usize::try_from(shape[c]).unwrap_or(usize::MAX));
    let voxel_size = match &found.voxel_size {
        Some(v) => Coord::new(integral(&layout.reorder(v, "voxel size")?, "voxel size")?),
        None => Coord::splat(1, spatial),
    };
    if voxel_size.iter().any(|&v| v <= 0) {
        return Err(format!("voxel size {voxel_size} must be positive"));
    }
    let raw_offset = match &found.offset {
        Some(o) => layout.reorder(o, "offset")?,
        None => vec![0.0; spatial],
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "world coordinates are far below 2^52"
    )]
    let offset = Coord::new(
        raw_offset
            .iter()
            .zip(voxel_size.iter())
            .map(|(&o, &vs)| {
                let vs = vs as f64;
                (((o + vs / 2.0) / vs).floor() * vs) as i64
            })
            .collect(),
    );
    #[expect(clippy::cast_precision_loss, reason = "comparison only")]
    if raw_offset
        .iter()
        .zip(offset.iter())
        .any(|(&a, &b)| (a - b as f64).abs() > 1e-9)
    {
        tracing::warn!(?raw_offset, rounded = %offset, "zarr offset is not a multiple of the voxel size; rounded");
    }
    let units = found
        .units
        .as_ref()
        .and_then(|u| layout.reorder(u, "units").ok());
    Ok(Geometry {
        num_channels,
        voxel_size,
        offset,
        units,
        layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(axes: Option<&[&str]>, vs: Option<Vec<f64>>, off: Option<Vec<f64>>) -> FoundGeometry {
        FoundGeometry {
            axes: axes.map(|a| a.iter().map(|s| (*s).to_owned()).collect()),
            voxel_size: vs,
            offset: off,
            units: None,
            origin: "attributes",
        }
    }

    #[test]
    fn channel_axis_and_funlib_names() {
        let g = validate_geometry(
            &found(
                Some(&["c^", "z", "y", "x"]),
                Some(vec![4.0, 4.0, 4.0]),
                None,
            ),
            None,
            &[3, 20, 36, 44],
        )
        .unwrap();
        assert_eq!(g.num_channels, Some(3));
        assert_eq!(g.voxel_size, Coord::from([4, 4, 4]));
        let default4 = validate_geometry(&found(None, None, None), None, &[2, 5, 5, 5]).unwrap();
        assert_eq!(default4.num_channels, Some(2));
        // A channel axis anywhere is moved first.
        let zcyx = validate_geometry(
            &found(Some(&["z", "c", "y", "x"]), None, None),
            None,
            &[1, 2, 3, 4],
        )
        .unwrap();
        assert_eq!(zcyx.num_channels, Some(2));
        assert!(
            validate_geometry(
                &found(Some(&["a", "c", "y", "x"]), None, None),
                None,
                &[2, 2, 3, 4]
            )
            .is_err()
        );
    }

    #[test]
    fn offset_rounds_to_nearest_multiple_ties_up() {
        let g = validate_geometry(
            &found(None, Some(vec![4.0, 4.0, 4.0]), Some(vec![6.0, 5.0, 7.0])),
            None,
            &[2, 2, 2],
        )
        .unwrap();
        assert_eq!(g.offset, Coord::from([8, 4, 8]));
    }

    #[test]
    fn voxel_size_with_channel_entry_and_bad_lengths() {
        let g = validate_geometry(
            &found(
                Some(&["c", "z", "y", "x"]),
                Some(vec![1.0, 8.0, 4.0, 4.0]),
                None,
            ),
            None,
            &[2, 3, 3, 3],
        )
        .unwrap();
        assert_eq!(g.voxel_size, Coord::from([8, 4, 4]));
        assert!(
            validate_geometry(&found(None, Some(vec![1.0, 2.0]), None), None, &[3, 3, 3]).is_err()
        );
        assert!(
            validate_geometry(
                &found(None, Some(vec![1.5, 2.0, 2.0]), None),
                None,
                &[3, 3, 3]
            )
            .is_err()
        );
    }
}
