"""vslide: virtual microscope slides as numpy arrays.

    import vslide
    slide = vslide.open("slide.h5")            # or "tcp://host:5555/SLIDE_ID"
    tile = slide.read(row=0, col=1, channel=0)  # (H, W) uint16, no copy
    img = slide.read_region(0, 0, 4096, 4096, level=2)  # fused (C, h, w) uint16

Errors raise vslide.VslideError subclasses (NotFoundError, CorruptionError, ...)
whose message is vslide's own ("slide.h5: tile (3,7) channel 2: ...").
See docs/PYTHON.md.
"""
import json as _json

import numpy as _np

from ._vslide import *  # noqa: F401,F403
from ._vslide import Slide, VslideError, open  # noqa: F401


def _objects_records(text):
    objects = _json.loads(text)
    names = []
    for o in objects:
        for k in o:
            if k not in names:
                names.append(k)

    def kind(values):
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            return _np.bool_
        if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) \
                and len(present) == len(values):
            return _np.int64
        if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            return _np.float64
        return object

    columns = {n: [o.get(n) for o in objects] for n in names}
    dtype = [(n, kind(columns[n])) for n in names]
    out = _np.empty(len(objects), dtype=dtype)
    for n, t in dtype:
        col = columns[n]
        if t is _np.float64:
            col = [_np.nan if v is None else v for v in col]
        out[n] = col
    return out.view(_np.recarray)


def _read_objects(self, layer):
    """A detection layer's objects as a numpy record array (one field per key)."""
    return _objects_records(self.read_objects_json(layer))


Slide.read_objects = _read_objects
__all__ = ["open", "Slide", "VslideError"]
