#!/usr/bin/python3
"""Checks vslide's OME-TIFF / OME-Zarr exports against an independent fused
reference computed here with numpy from the raw planes the test dumped.

Reference (docs/EXPORT.md): level L of each field is its level L-1 plane
2x2-averaged (partial edge blocks average what exists, rounded half up); the field
sits at floor((x - x0) / (p 2^L) + 0.5) output pixels, x its position in plane
(z, t) (a manifest "plane_fields" row where there is one, else its "fields"
row; the default region covers both); channel c samples its
plane at floor(i + dx / 2^L + 0.5); overlaps are the weighted mean (rounded
half up) with weights min(x + 1, w - x, y + 1, h - y); uncovered pixels are 0.

Usage: check_export.py --dump DIR --levels N [--region X0,Y0,X1,Y1]
                       [--tiff FILE] [--zarr-dump DIR]
The OME-TIFF is read with tifffile (Debian's); the Zarr dump comes from
js/read_zarr.mjs (zarrita). Exit 0 when every level, channel, z and t match.
"""
import argparse
import json
import math
import os
import sys

import numpy as np


def box(a, f):
    if f == 1:
        return a.astype(np.int64)
    h, w = a.shape
    hh, ww = -(-h // f), -(-w // f)
    s = np.zeros((hh * f, ww * f), np.int64)
    n = np.zeros((hh * f, ww * f), np.int64)
    s[:h, :w] = a
    n[:h, :w] = 1
    s = s.reshape(hh, f, ww, f).sum(axis=(1, 3))
    n = n.reshape(hh, f, ww, f).sum(axis=(1, 3))
    return (s + n // 2) // n


def plane_positions(man, z, t):
    """The fields of plane (z, t): its own placements where the manifest has some."""
    own = {(p["row"], p["col"]): p for p in man.get("plane_fields", []) if p["z"] == z and p["t"] == t}
    return [own.get((f["row"], f["col"]), f) for f in man["fields"]]


def reference(man, dump, region, level, c, z, t):
    p = man["pixel_um"]
    f = 2 ** level
    pl = p * f
    x0, y0, x1, y1 = region
    w0 = max(1, math.ceil((x1 - x0) / p - 1e-6))
    h0 = max(1, math.ceil((y1 - y0) / p - 1e-6))
    W, H = -(-w0 // f), -(-h0 // f)
    tw, th = -(-man["tile_w"] // f), -(-man["tile_h"] // f)
    sv = np.zeros((H, W), np.int64)
    sw = np.zeros((H, W), np.int64)
    dx = dy = 0.0
    for o in man["channel_offsets"]:
        if o["channel"] == c:
            dx, dy = o["dx"], o["dy"]
    u = np.floor(np.arange(tw) + dx / f + 0.5).astype(np.int64)
    v = np.floor(np.arange(th) + dy / f + 0.5).astype(np.int64)
    ok = ((v >= 0) & (v < th))[:, None] & ((u >= 0) & (u < tw))[None, :]
    rx = np.minimum(np.arange(tw) + 1, tw - np.arange(tw))
    ry = np.minimum(np.arange(th) + 1, th - np.arange(th))
    weight = np.minimum(rx[None, :], ry[:, None]) * ok
    for fld in plane_positions(man, z, t):
        name = "%d_%d_%d_%d_%d.u16" % (fld["row"], fld["col"], c, z, t)
        raw = np.fromfile(os.path.join(dump, name), "<u2").reshape(man["tile_h"], man["tile_w"])
        tile = raw.astype(np.int64)
        for _ in range(level):
            tile = box(tile, 2)
        sampled = tile[np.clip(v, 0, th - 1)][:, np.clip(u, 0, tw - 1)]
        ox = math.floor((fld["x_um"] - x0) / pl + 0.5)
        oy = math.floor((fld["y_um"] - y0) / pl + 0.5)
        xa, xb = max(0, ox), min(W, ox + tw)
        ya, yb = max(0, oy), min(H, oy + th)
        if xa >= xb or ya >= yb:
            continue
        ws = weight[ya - oy:yb - oy, xa - ox:xb - ox]
        sv[ya:yb, xa:xb] += ws * sampled[ya - oy:yb - oy, xa - ox:xb - ox]
        sw[ya:yb, xa:xb] += ws
    out = np.zeros((H, W), np.int64)
    m = sw > 0
    out[m] = (sv[m] + sw[m] // 2) // sw[m]
    return out.astype(np.uint16)


def compare(what, got, want):
    if got.shape != want.shape:
        raise SystemExit("%s: shape %s, reference %s" % (what, got.shape, want.shape))
    bad = np.argwhere(got != want)
    if len(bad):
        y, x = bad[0]
        raise SystemExit("%s: %d pixels differ; first at (x=%d, y=%d): %d, reference %d"
                         % (what, len(bad), x, y, got[y, x], want[y, x]))


def to_tczyx(arr, axes):
    for a in "TCZYX":
        if a not in axes:
            arr = arr[np.newaxis]
            axes = a + axes
    return np.transpose(arr, [axes.index(a) for a in "TCZYX"])


def check_tiff(path, man, dump, region, levels):
    import tifffile
    with tifffile.TiffFile(path) as tf:
        if not (tf.is_ome and tf.is_bigtiff):
            raise SystemExit("%s: not a BigTIFF with OME-XML" % path)
        ome = tifffile.xml2dict(tf.ome_metadata)["OME"]["Image"]["Pixels"]
        if abs(float(ome["PhysicalSizeX"]) - man["pixel_um"]) > 1e-9:
            raise SystemExit("PhysicalSizeX %s, expected %s" % (ome["PhysicalSizeX"], man["pixel_um"]))
        chans = ome["Channel"] if isinstance(ome["Channel"], list) else [ome["Channel"]]
        names = [ch["Name"] for ch in chans]
        if names != man["channel_names"]:
            raise SystemExit("channel names %s, expected %s" % (names, man["channel_names"]))
        if any("Color" not in ch for ch in chans):
            raise SystemExit("a channel has no Color")
        s = tf.series[0]
        if len(s.levels) != levels:
            raise SystemExit("%d levels in the TIFF, expected %d" % (len(s.levels), levels))
        if len(tf.pages) != man["channels"] * man["z"] * man["t"]:
            raise SystemExit("%d top-level IFDs, expected one per plane" % len(tf.pages))
        for level, lev in enumerate(s.levels):
            a = to_tczyx(lev.asarray(), lev.axes)
            for t in range(man["t"]):
                for z in range(man["z"]):
                    for c in range(man["channels"]):
                        compare("OME-TIFF level %d c %d z %d t %d" % (level, c, z, t), a[t, c, z],
                                reference(man, dump, region, level, c, z, t))
    print("OME-TIFF: %d levels x %d planes equal the reference" % (levels, man["channels"] * man["z"] * man["t"]))


def check_zarr(zdump, man, dump, region, levels):
    meta = json.load(open(os.path.join(zdump, "meta.json")))
    ome = meta["attrs"]["ome"]
    if ome["version"] != "0.5":
        raise SystemExit("ome.version %r" % ome["version"])
    ms = ome["multiscales"][0]
    if [a["name"] for a in ms["axes"]] != ["t", "c", "z", "y", "x"]:
        raise SystemExit("axes %s" % ms["axes"])
    if ms["axes"][4].get("unit") != "micrometer":
        raise SystemExit("x axis unit %r" % ms["axes"][4].get("unit"))
    if len(ms["datasets"]) != levels or len(meta["levels"]) != levels:
        raise SystemExit("%d datasets, expected %d" % (len(ms["datasets"]), levels))
    labels = [ch["label"] for ch in ome["omero"]["channels"]]
    if labels != man["channel_names"]:
        raise SystemExit("omero labels %s, expected %s" % (labels, man["channel_names"]))
    for level, (ds, lv) in enumerate(zip(ms["datasets"], meta["levels"])):
        scale = [tr for tr in ds["coordinateTransformations"] if tr["type"] == "scale"][0]["scale"]
        if abs(scale[4] - man["pixel_um"] * 2 ** level) > 1e-9:
            raise SystemExit("level %d: x scale %s" % (level, scale[4]))
        a = np.fromfile(os.path.join(zdump, lv["path"] + ".u16"), "<u2").reshape(lv["shape"])
        for t in range(man["t"]):
            for z in range(man["z"]):
                for c in range(man["channels"]):
                    compare("OME-Zarr level %d c %d z %d t %d" % (level, c, z, t), a[t, c, z],
                            reference(man, dump, region, level, c, z, t))
    print("OME-Zarr: %d levels x %d planes equal the reference" % (levels, man["channels"] * man["z"] * man["t"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--levels", type=int, required=True)
    ap.add_argument("--region")
    ap.add_argument("--tiff")
    ap.add_argument("--zarr-dump")
    args = ap.parse_args()
    man = json.load(open(os.path.join(args.dump, "manifest.json")))
    if args.region:
        region = [float(v) for v in args.region.split(",")]
    else:
        every = man["fields"] + man.get("plane_fields", [])  # every plane's fields
        region = [min(f["x_um"] for f in every), min(f["y_um"] for f in every),
                  max(f["x_um"] + man["tile_w"] * man["pixel_um"] for f in every),
                  max(f["y_um"] + man["tile_h"] * man["pixel_um"] for f in every)]
    if args.tiff:
        check_tiff(args.tiff, man, args.dump, region, args.levels)
    if args.zarr_dump:
        check_zarr(args.zarr_dump, man, args.dump, region, args.levels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
