"""Writes the OME-TIFF inputs of import_tiles_test.cpp with Debian's tifffile,
as microscopes write them, and the truth beside them: every plane as raw
little-endian uint16 named ROW_COL_C_Z_T.raw, and manifest.json.

usage: import_ome_tiffs.py KIND OUTDIR
  mosaic    one file, 2x2 positions (one OME Image each), C=2 Z=2 T=2, per-plane positions
  mmstack   Micro-Manager style: two files, the first holds the OME-XML for both
            (TiffData UUID FileName), the second only BinaryOnly metadata
  extrapage one image of 3 planes in a file of 4 pages (the 4th undescribed)
  separate  one file per position, each written alone (every image is "Image:0")
"""
import json
import os
import sys

import numpy as np
import tifffile

H, W, PX = 48, 64, 0.5  # tile 64x48 at 0.5 um: 32 x 24 um
rng = np.random.default_rng(5)


def truth(out, row, col, c, z, t, plane):
    plane.astype("<u2").tofile(os.path.join(out, f"{row}_{col}_{c}_{z}_{t}.raw"))


def mosaic(out):
    # 2x2 fields, 10% overlap (step 28.8 x 21.6 um), stage jitter < 0.3 um
    fields = []
    with tifffile.TiffWriter(os.path.join(out, "mosaic.ome.tif"), ome=True) as tw:
        for row in range(2):
            for col in range(2):
                x = 1000 + col * 28.8 + rng.uniform(-0.3, 0.3)
                y = 2000 + row * 21.6 + rng.uniform(-0.3, 0.3)
                data = rng.integers(0, 4096, size=(2, 2, 2, H, W), dtype=np.uint16)  # T C Z Y X
                n = 8
                # Row 1 as tiled, deflate-compressed pages (as Bio-Formats writes large planes).
                layout = {"tile": (16, 16), "compression": "zlib"} if row == 1 else {}
                tw.write(data, **layout, metadata={
                    "axes": "TCZYX", "PhysicalSizeX": PX, "PhysicalSizeY": PX,
                    "Channel": {"Name": ["Hoechst", "AF488"], "Color": [65535, 16711935]},
                    "Plane": {"PositionX": [x] * n, "PositionY": [y] * n, "PositionZ": [5.0] * n,
                              "PositionXUnit": ["µm"] * n, "PositionYUnit": ["µm"] * n},
                })
                fields.append({"row": row, "col": col, "x": x, "y": y})
                for t in range(2):
                    for c in range(2):
                        for z in range(2):
                            truth(out, row, col, c, z, t, data[t, c, z])
    return {"fields": fields}


OME_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>'
            '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:{u}">')


def mm_image(i, fname, x, y):
    planes = "".join(
        f'<Plane TheC="{c}" TheZ="0" TheT="0" PositionX="{x}" PositionXUnit="µm" PositionY="{y}" PositionYUnit="µm"/>'
        for c in range(2))
    return (f'<Image ID="Image:{i}" Name="1-Pos_{i:03d}_000"><Pixels ID="Pixels:{i}" DimensionOrder="XYCZT" '
            f'Type="uint16" SizeX="{W}" SizeY="{H}" SizeC="2" SizeZ="1" SizeT="1" PhysicalSizeX="{PX}" '
            f'PhysicalSizeXUnit="µm" PhysicalSizeY="{PX}">'
            '<Channel ID="Channel:0" Name="DAPI" SamplesPerPixel="1"/><Channel ID="Channel:1" Name="Cy5" SamplesPerPixel="1"/>'
            f'<TiffData FirstC="0" IFD="0" PlaneCount="2"><UUID FileName="{fname}">urn:uuid:{i}</UUID></TiffData>'
            f'{planes}</Pixels></Image>')


def mmstack(out):
    names = ["run_MMStack_Pos0.ome.tif", "run_MMStack_Pos1.ome.tif"]
    xs = [0.0, 29.0]
    xml = OME_HEAD.format(u=0) + "".join(mm_image(i, names[i], xs[i], 0.0) for i in range(2)) + "</OME>"
    binary_only = OME_HEAD.format(u=1) + f'<BinaryOnly MetadataFile="{names[0]}" UUID="urn:uuid:0"/></OME>'
    for i, name in enumerate(names):
        data = rng.integers(0, 65535, size=(2, H, W), dtype=np.uint16)
        with tifffile.TiffWriter(os.path.join(out, name)) as tw:
            for c in range(2):
                tw.write(data[c], description=(xml if i == 0 else binary_only).encode() if c == 0 else None,
                         metadata=None, contiguous=False)
            for c in range(2):
                truth(out, 0, i, c, 0, 0, data[c])
    return {"fields": [{"row": 0, "col": i, "x": xs[i], "y": 0.0} for i in range(2)]}


def extrapage(out):
    xml = (OME_HEAD.format(u=2) + f'<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" '
           f'SizeX="{W}" SizeY="{H}" SizeZ="3" SizeC="1" SizeT="1" PhysicalSizeX="{PX}">'
           '<TiffData IFD="0" PlaneCount="3"/></Pixels></Image></OME>')
    with tifffile.TiffWriter(os.path.join(out, "extra.ome.tif")) as tw:
        for k in range(4):
            tw.write(np.full((H, W), k, np.uint16), description=xml if k == 0 else None, metadata=None,
                     contiguous=False)
    return {}


def separate(out):
    fields = []
    for col in range(2):
        x = 29.0 * col
        data = rng.integers(0, 65535, size=(3, H, W), dtype=np.uint16)  # Z Y X
        tifffile.imwrite(os.path.join(out, f"pos{col}.ome.tif"), data, ome=True, metadata={
            "axes": "ZYX", "PhysicalSizeX": PX, "PhysicalSizeY": PX,
            "Plane": {"PositionX": [x] * 3, "PositionY": [0.0] * 3}})
        for z in range(3):
            truth(out, 0, col, 0, z, 0, data[z])
        fields.append({"row": 0, "col": col, "x": x, "y": 0.0})
    return {"fields": fields}


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    manifest = {"mosaic": mosaic, "mmstack": mmstack, "extrapage": extrapage, "separate": separate}[kind](out)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
