#!/usr/bin/python3
"""Reads every stored plane of a vslide file with h5py alone, following docs/FORMAT.md.

usage: h5py_read_planes.py SLIDE.h5 OUT_DIR
Writes OUT_DIR/r_c_ch_z_t.raw (little-endian uint16 pixels) for each present plane and prints the
number of planes. Needs Debian's python3-h5py and, for Blosc slides, hdf5-filter-plugin-blosc-serial.
"""
import json
import os
import sys

import h5py
import numpy as np


def main():
    path, out = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        g = json.loads(f.attrs["geometry_json"])
        layout = f.attrs["layout"]
        if isinstance(layout, bytes):
            layout = layout.decode()
        R, C = g["rows"], g["cols"]
        NW, Z, T = g["channels"], g["z_planes"], g["timepoints"]
        H, W = g["tile_height"], g["tile_width"]
        P = NW * Z * T
        ds = f["mosaic/level0"]
        fields = f["index/fields"][()]
        chunks = f["index/chunks"][()]
        stored = {(int(c["slot"]), int(c["plane"])) for c in chunks if int(c["level"]) == 0}
        n = 0
        for rec in fields:
            r, c, s = int(rec["row"]), int(rec["col"]), int(rec["slot"])
            for t in range(T):
                for z in range(Z):
                    for w in range(NW):
                        p = (t * Z + z) * NW + w
                        if (s, p) not in stored:
                            continue
                        if layout == "linear":
                            y0 = (s * P + p) * H
                            plane = ds[y0:y0 + H, :]
                        elif layout == "packed":
                            y0 = (r * P + p) * H
                            plane = ds[y0:y0 + H, c * W:(c + 1) * W]
                        else:
                            plane = ds[r, c, p, :, :]
                        assert plane.shape == (H, W), plane.shape
                        plane.astype("<u2").tofile(os.path.join(out, f"{r}_{c}_{w}_{z}_{t}.raw"))
                        n += 1
        print(n)


if __name__ == "__main__":
    main()
