"""Writes the wrk path lists of benches/serve.sh and benches/compare.sh into ROOT
(`NAME.paths`, one URL path a line; chunk lists cover the 8^3 chunks of a 512^3 array).

usage: python benches/paths.py ROOT
"""
import itertools
import sys

root = sys.argv[1]
idx = list(itertools.product(range(8), repeat=3))


def write(name, fmt):
    with open(f"{root}/{name}.paths", "w") as f:
        f.writelines(fmt.format(*i) + "\n" for i in idx)


for arr in ("blosc", "raw"):
    write(f"nginx_{arr}", "/test.zarr/" + arr + "/{}.{}.{}")
    write(f"arrayd_{arr}", "/v1/zarr2/" + arr + "/{}.{}.{}")
write("arrayd_computed", "/v1/arrays/computed/zarr/c/{}/{}/{}")
# 128^3 ROIs on the 64^3 chunk grid of a 512^3 array: 7^3 of them, each 8 chunks
with open(f"{root}/arrayd_cold.paths", "w") as f:
    f.writelines(f"/v1/arrays/cold/roi?offset={z * 64},{y * 64},{x * 64}&shape=128,128,128&format=raw\n"
                 for z, y, x in itertools.product(range(7), repeat=3))
single = {
    "nginx_one": "/test.zarr/raw/0.0.0",
    "arrayd_roi": "/v1/arrays/raw/roi?offset=0,0,0&shape=64,64,64&format=raw",
    "nginx_static64": "/static64.bin",
    "arrayd_f32": "/v1/arrays/f32/roi?offset=0,0,0&shape=256,256,256&format=raw",
}
for name, path in single.items():
    with open(f"{root}/{name}.paths", "w") as f:
        f.write(path + "\n")
