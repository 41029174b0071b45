#!/usr/bin/python3
"""Finds bright spots in a vslide export, read by an independent reader, for
tests/export/plane_positions_test.cpp.

For each expected spot (level 0, output channel c, plane z, t, pixel-index
coordinates x, y: the spot's centre lies at the centre of pixel (x, y) when x
and y are integers) it takes the brightest pixel within --search pixels of
(x, y), and around it (radius 3) the centroid of the values above the
window's median. Prints a JSON array, one object per spot in input order:
{"x", "y" (the centroid), "peak" (brightest value above the median)}.

Usage: spot_positions.py --spots SPOTS.json [--search 20]
                         (--tiff FILE | --zarr-dump DIR)
The OME-TIFF is read with tifffile (Debian's), the OME-Zarr dump is what
js/read_zarr.mjs (zarrita) wrote.
"""
import argparse
import json
import os
import sys

import numpy as np


def to_tczyx(arr, axes):
    for a in "TCZYX":
        if a not in axes:
            arr = arr[np.newaxis]
            axes = a + axes
    return np.transpose(arr, [axes.index(a) for a in "TCZYX"])


def level0_tiff(path):
    import tifffile
    with tifffile.TiffFile(path) as tf:
        lev = tf.series[0].levels[0]
        return to_tczyx(lev.asarray(), lev.axes)


def level0_zarr(zdump):
    meta = json.load(open(os.path.join(zdump, "meta.json")))
    lv = meta["levels"][0]
    return np.fromfile(os.path.join(zdump, lv["path"] + ".u16"), "<u2").reshape(lv["shape"])


def find(plane, x, y, search):
    h, w = plane.shape
    xi, yi = int(round(x)), int(round(y))
    x0, x1 = max(0, xi - search), min(w, xi + search + 1)
    y0, y1 = max(0, yi - search), min(h, yi + search + 1)
    if x0 >= x1 or y0 >= y1:
        return {"x": -1e9, "y": -1e9, "peak": 0}
    win = plane[y0:y1, x0:x1].astype(np.float64)
    bg = float(np.median(win))
    py, px = np.unravel_index(int(np.argmax(win)), win.shape)
    a, b = max(0, py - 3), min(win.shape[0], py + 4)
    c, d = max(0, px - 3), min(win.shape[1], px + 4)
    wv = np.clip(win[a:b, c:d] - bg, 0, None)
    ys, xs = np.mgrid[a:b, c:d]
    s = wv.sum()
    return {"x": float((xs * wv).sum() / s) + x0, "y": float((ys * wv).sum() / s) + y0,
            "peak": float(win[py, px] - bg)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spots", required=True)
    ap.add_argument("--search", type=int, default=20)
    ap.add_argument("--tiff")
    ap.add_argument("--zarr-dump")
    args = ap.parse_args()
    if bool(args.tiff) == bool(args.zarr_dump):
        raise SystemExit("give one of --tiff, --zarr-dump")
    a = level0_tiff(args.tiff) if args.tiff else level0_zarr(args.zarr_dump)
    out = [find(a[s["t"], s["c"], s["z"]], s["x"], s["y"], args.search) for s in json.load(open(args.spots))]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
