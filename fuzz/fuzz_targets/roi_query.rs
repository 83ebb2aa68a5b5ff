//! Any query string given to `GET /v1/arrays/{name}/roi`: parsing and bounds checking
//! never panic, and every ROI the query yields lies within the world bound, so the byte
//! count and the limit check that follow cannot wrap.
#![no_main]

use arrayd::geometry::{Coord, Roi};
use arrayd::http::roi_query::RoiQuery;
use arrayd::limits::{Limits, volume_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let Ok(query) = RoiQuery::from_query_str(&s) else {
        return;
    };
    let cases: [(Coord, Roi); 5] = [
        (Coord::from([4, 4, 4]), Roi::new([0, 0, 0], [400, 400, 400])),
        (Coord::from([1, 1, 1]), Roi::new([0, 0, 0], [64, 64, 64])),
        (
            Coord::from([40, 8, 8]),
            Roi::new([-400, -80, 0], [4000, 800, 800]),
        ),
        (Coord::from([2, 2]), Roi::new([0, 0], [256, 256])),
        (
            Coord::from([1, 1, 1]),
            Roi::new([-(1 << 47), 0, 0], [1 << 48, 1 << 20, 1 << 20]),
        ),
    ];
    for (voxel_size, whole) in &cases {
        let Ok(roi) = query.roi(voxel_size, whole) else {
            continue;
        };
        assert!(
            roi.check_world().is_ok(),
            "{s:?} with voxel size {voxel_size}, whole {whole}: ROI {roi} beyond the world bound"
        );
        assert_eq!(
            roi.dims(),
            voxel_size.dims(),
            "{s:?}: ROI {roi} has the wrong axes"
        );
        let voxels = roi.shape.div_floor(voxel_size);
        let bytes = volume_bytes(&voxels.to_usize(), 8);
        let _ = Limits::default().roi_bytes(bytes);
        let _ = query.format(&Default::default());
    }
});
