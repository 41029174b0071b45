"""A client of the vslide tile protocol written only from docs/PROTOCOL.md.

usage: /usr/bin/python3 interop_client.py ENDPOINT SLIDE_ID SLIDE.h5
Checks header, index, one tile and a batch against h5py's read of the file;
prints OK and exits 0, or prints what differs and exits 1.
"""
import ctypes
import ctypes.util
import json
import sys

import h5py
import numpy as np
import zmq

endpoint, slide_id, path = sys.argv[1:4]
ctx = zmq.Context()
sock = ctx.socket(zmq.REQ)
sock.setsockopt(zmq.LINGER, 0)
sock.setsockopt(zmq.RCVTIMEO, 10000)
sock.connect(endpoint)
next_id = [0]


def call(request):
    next_id[0] += 1
    request = dict(request, v=1, id=next_id[0])
    sock.send(json.dumps(request).encode())
    frames = sock.recv_multipart()  # REQ strips the empty delimiter
    reply = json.loads(frames[0])
    assert reply["v"] == 1 and reply["id"] == next_id[0], reply
    return reply, frames[1:]


blosc = ctypes.CDLL(ctypes.util.find_library("blosc") or "libblosc.so.1")


def decode(codec, payload, nbytes):
    if codec["family"] == "none":
        return np.frombuffer(payload, dtype="<u2")
    assert codec["family"] == "blosc", codec
    out = ctypes.create_string_buffer(nbytes)
    n = blosc.blosc_decompress(payload, out, ctypes.c_size_t(nbytes))
    assert n == nbytes, (n, nbytes)
    return np.frombuffer(out.raw, dtype="<u2")


failures = []
header, _ = call({"op": "header", "slide": slide_id})
if not header["ok"]:
    sys.exit("header failed: %r" % header)
g = header["geometry"]
H, W, P = g["tile_height"], g["tile_width"], g["channels"] * g["z_planes"] * g["timepoints"]
index, _ = call({"op": "index", "slide": slide_id})
fields = {(f["row"], f["col"]): f for f in index["index"]["fields"]}

f5 = h5py.File(path, "r")
level0 = f5["mosaic/level0"]


def expected_plane(row, col, channel):
    slot = fields[(row, col)]["slot"]
    p = channel  # z = t = 0
    start = (slot * P + p) * H
    return level0[start:start + H, :], (start, 0)


def check_tile(meta, payloads, row, col, channel):
    want, offset = expected_plane(row, col, channel)
    plane = np.zeros((meta["height"], meta["width"]), dtype=np.uint16)
    for block, payload in zip(meta["blocks"], payloads):
        assert len(payload) == block["size"]
        pixels = decode(meta["codec"], payload, block["height"] * block["width"] * 2)
        y, x = block["y"], block["x"]
        plane[y:y + block["height"], x:x + block["width"]] = pixels.reshape(block["height"], block["width"])
    if not np.array_equal(plane, want):
        failures.append("tile (%d,%d) channel %d: pixels differ from h5py" % (row, col, channel))
    if len(meta["blocks"]) == 1:
        _, stored = level0.id.read_direct_chunk(offset)
        if bytes(stored) != bytes(payloads[0]):
            failures.append("tile (%d,%d): payload is not the stored chunk" % (row, col))


reply, payloads = call({"op": "tile", "slide": slide_id, "key": {"row": 0, "col": 1, "channel": 1}})
if not reply["ok"]:
    sys.exit("tile failed: %r" % reply)
check_tile(reply["tile"], payloads, 0, 1, 1)

keys = [{"row": 0, "col": 0, "channel": 0}, {"row": 9, "col": 9}, {"row": 1, "col": 0, "channel": 1}]
reply, payloads = call({"op": "tiles", "slide": slide_id, "keys": keys})
at = 0
for key, meta in zip(keys, reply["tiles"]):
    if not meta["ok"]:
        if meta["error"]["code"] != "out_of_range":
            failures.append("batch: unexpected error %r" % meta)
        continue
    n = len(meta["blocks"])
    check_tile(meta, payloads[at:at + n], key["row"], key["col"], key.get("channel", 0))
    at += n
if at != len(payloads):
    failures.append("batch: %d payload frames, %d used" % (len(payloads), at))

reply, _ = call({"op": "tile", "slide": "vs-nobody", "key": {"row": 0, "col": 0}})
if reply["ok"] or reply["error"]["code"] != "unknown_slide":
    failures.append("unknown slide: %r" % reply)

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("OK")
