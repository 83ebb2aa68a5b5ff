//! Separable passes over the lines of a standard-layout array along one axis, grouped so the
//! per-element loops run over contiguous memory.

/// Lines processed together by the separable passes: element `i` of every line of a group
/// sits in one row of a `n x LINE_GROUP` buffer, so the per-element loops run over contiguous
/// memory while each line keeps scipy's order of operations.
pub(super) const LINE_GROUP: usize = 64;

/// `(outer, len, inner)`: a standard-layout `shape` seen as `outer` blocks of `len` rows of
/// `inner` contiguous elements along `axis`.
pub(super) fn split_shape(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Runs `body` on the lines along `axis` of a standard-layout array of `shape`, in groups of
/// up to [`LINE_GROUP`]: `body(group, inner)` gets, per line of the group, the flat offset of
/// its element 0 in the input and in an output whose `axis` has length `out_len`; element `i`
/// of a line is `i * inner` further on in both.
pub(super) fn for_line_groups(
    shape: &[usize],
    axis: usize,
    out_len: usize,
    mut body: impl FnMut(&[(usize, usize)], usize),
) {
    let (outer, n, inner) = split_shape(shape, axis);
    let lines = outer * inner;
    let mut group = Vec::with_capacity(LINE_GROUP);
    let mut first = 0;
    while first < lines {
        group.clear();
        for line in first..(first + LINE_GROUP).min(lines) {
            let (o, q) = (line / inner, line % inner);
            group.push((o * n * inner + q, o * out_len * inner + q));
        }
        body(&group, inner);
        first += group.len();
    }
}

/// Whether the lines of a group are adjacent in memory (same block, consecutive columns).
pub(super) fn contiguous(group: &[(usize, usize)]) -> bool {
    match (group.first(), group.last()) {
        (Some(f), Some(l)) => l.0 - f.0 == group.len() - 1 && l.1 - f.1 == group.len() - 1,
        _ => false,
    }
}

/// Copies element `i` of every line of `group` into `row`, as f64.
pub(super) fn gather<T: Copy + Into<f64>>(
    src: &[T],
    group: &[(usize, usize)],
    dense: bool,
    offset: usize,
    row: &mut [f64],
) {
    if dense {
        let start = group[0].0 + offset;
        let len = row.len();
        for (b, &v) in row.iter_mut().zip(&src[start..start + len]) {
            *b = v.into();
        }
    } else {
        for (b, &(base, _)) in row.iter_mut().zip(group) {
            *b = src[base + offset].into();
        }
    }
}

/// Stores `row` (one value per line of `group`) at output element `offset` of each line.
pub(super) fn scatter<U>(
    dst: &mut [U],
    group: &[(usize, usize)],
    dense: bool,
    offset: usize,
    row: &[f64],
    convert: impl Fn(f64) -> U,
) {
    if dense {
        let start = group[0].1 + offset;
        let len = row.len();
        for (d, &a) in dst[start..start + len].iter_mut().zip(row) {
            *d = convert(a);
        }
    } else {
        for (&a, &(_, out)) in row.iter().zip(group) {
            dst[out + offset] = convert(a);
        }
    }
}
