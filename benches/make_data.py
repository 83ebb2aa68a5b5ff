"""Writes the benchmark volume: a zarr v2 group with two uint8 512^3 arrays in 64^3
chunks, `blosc` (Blosc zstd level 5, byte shuffle; EM-like, ~205 KB/chunk) and `raw`
(uncompressed, 262,144 B/chunk), the same voxels in both: a smooth field plus noise.

usage: python make_data.py OUT_DIR/test.zarr
"""
import sys

import numcodecs
import numpy as np
import zarr

out = sys.argv[1]
n, c = 512, 64
rng = np.random.default_rng(0)
axis = np.arange(n, dtype=np.float32)
group = zarr.open_group(out, mode="w", zarr_format=2)
kw = dict(shape=(n, n, n), chunks=(c, c, c), dtype="uint8", fill_value=0)
blosc = group.create_array("blosc", compressors=numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE), **kw)
raw = group.create_array("raw", compressors=None, **kw)
yy, xx = np.meshgrid(axis, axis, indexing="ij")
for z0 in range(0, n, c):
    zz = axis[z0:z0 + c][:, None, None]
    field = 96 + 60 * np.sin(zz / 23.0) * np.cos(yy[None] / 31.0) + 40 * np.sin((xx[None] + zz) / 17.0)
    slab = np.clip(field + rng.normal(0, 3, size=field.shape), 0, 255).astype(np.uint8)
    blosc[z0:z0 + c] = slab
    raw[z0:z0 + c] = slab
print("wrote", out)
