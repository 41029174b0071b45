"""vslide's Python module against files and a served slide."""
import json
import os
import subprocess

import numpy as np
import pytest
import tifffile

import vslide
from conftest import run, vslide_binary


def every_plane(slide):
    g = slide.geometry
    for f in slide.fields:
        for t in range(g.timepoints):
            for z in range(g.z_planes):
                for c in range(g.channels):
                    if slide.has_plane(int(f["row"]), int(f["col"]), c, z, t):
                        yield int(f["row"]), int(f["col"]), c, z, t


def test_header_geometry_channels_match_info(slide_path):
    info = json.loads(run("info", "--json", slide_path))
    with vslide.open(slide_path) as s:
        assert s.header.slide_id == info["slide_id"]
        g = s.geometry
        assert (g.rows, g.cols, g.channels, g.z_planes) == (2, 3, 2, 2)
        assert g.tile_shape == (64, 96)
        assert len(s.channels) == 2
        assert s.channels[0].name == s.channel_names[0]
        assert len(s.channels[0].color) == 3 and s.channels[0].color_hex.startswith("#")
        assert s.channels[0].window[0] < s.channels[0].window[1]
        assert s.state == "complete"
        assert s.zoom_levels == [0, 1, 2]
        assert s.header.to_dict()["slide_id"] == info["slide_id"]
        assert "sim.h5" in repr(s)


def test_tile_index_is_a_record_array(slide_path):
    s = vslide.open(slide_path)
    f = s.fields
    assert len(f) == 6
    assert list(zip(f["row"], f["col"])) == [(r, c) for r in range(2) for c in range(3)]
    assert (f["planes_present"] == 4).all()
    # Stage positions step by about one tile (96 px) less the overlap.
    step = np.diff(f["stage_x_um"][:3]) / s.geometry.pixel_size_um
    assert ((step > 60) & (step < 96)).all(), step


def test_read_matches_export_tile_read_by_tifffile(slide_path, tmp_path):
    s = vslide.open(slide_path)
    for row, col, c, z in [(0, 0, 0, 0), (1, 2, 1, 1), (0, 1, 1, 0)]:
        out = str(tmp_path / f"{row}{col}{c}{z}.tif")
        run("export-tile", slide_path, "--row", str(row), "--col", str(col), "--channel", str(c),
            "--z", str(z), "--out", out)
        a = s.read(row, col, c, z=z)
        assert a.dtype == np.uint16 and a.shape == (64, 96) and a.flags.c_contiguous
        np.testing.assert_array_equal(a, tifffile.imread(out))


def test_read_makes_no_copy(slide_path):
    s = vslide.open(slide_path)
    a = s.read(0, 0, 0)
    # The array does not own its memory: a capsule around the decoded buffer does.
    assert not a.flags.owndata
    assert type(a.base).__name__ == "PyCapsule"
    b = a[10:20, 5:7]
    assert np.shares_memory(a, b)
    del s  # the array outlives the slide
    assert int(a.sum()) > 0


def test_zoom_level_is_the_stored_layer(slide_path):
    s = vslide.open(slide_path)
    a = s.read(1, 1, 0, level=1)
    assert a.shape == (32, 48)
    full = s.read(1, 1, 0).astype(np.float64)
    box = full.reshape(32, 2, 48, 2).mean(axis=(1, 3))
    assert np.abs(box - a).max() <= 1


def round_half_up(v):
    return np.floor(np.asarray(v, dtype=np.float64) + 0.5).astype(np.int64)


def fused_reference(s, x0, y0, x1, y1, level, channels, positions=None):
    """Linear feathering written independently in numpy: weight of tile pixel
    (x, y) = min(x+1, w-x, y+1, h-y); weighted mean rounded half up.
    `positions`: {(row, col): (x_um, y_um)}, the stage's by default."""
    g = s.geometry
    f = s.fields.copy()
    if positions is not None:
        for r in f:
            r["stage_x_um"], r["stage_y_um"] = positions[(int(r["row"]), int(r["col"]))]
    px = g.pixel_size_um
    k = 2 ** level
    W, H = -(-(x1 - x0) // k), -(-(y1 - y0) // k)
    lw, lh = -(-g.tile_width // k), -(-g.tile_height // k)
    yy, xx = np.mgrid[0:lh, 0:lw]
    wt = np.minimum(np.minimum(xx + 1, lw - xx), np.minimum(yy + 1, lh - yy)).astype(np.float64)
    out = np.zeros((len(channels), H, W), np.uint16)
    for i, c in enumerate(channels):
        acc = np.zeros((H, W))
        wsum = np.zeros((H, W))
        for r in f:
            if not s.has_plane(int(r["row"]), int(r["col"]), c):
                continue
            ox = int(round_half_up(((r["stage_x_um"] - f["stage_x_um"].min()) / px - x0) / k))
            oy = int(round_half_up(((r["stage_y_um"] - f["stage_y_um"].min()) / px - y0) / k))
            tile = s.read(int(r["row"]), int(r["col"]), c, level=level).astype(np.float64)
            xs, ys = max(0, -ox), max(0, -oy)
            xe, ye = min(lw, W - ox), min(lh, H - oy)
            if xe <= xs or ye <= ys:
                continue
            acc[oy + ys:oy + ye, ox + xs:ox + xe] += (tile * wt)[ys:ye, xs:xe]
            wsum[oy + ys:oy + ye, ox + xs:ox + xe] += wt[ys:ye, xs:xe]
        out[i] = np.where(wsum > 0, np.floor(acc / np.maximum(wsum, 1e-9) + 0.5), 0)
    return out


@pytest.mark.parametrize("level", [0, 1])
def test_read_region_is_the_blended_mosaic(slide_path, level):
    s = vslide.open(slide_path)
    frame = s.frame
    assert frame["registered"] is False
    x1, y1 = frame["width"], frame["height"]
    got = s.read_region(0, 0, x1, y1, level=level)
    ref = fused_reference(s, 0, 0, x1, y1, level, [0, 1])
    assert got.shape == ref.shape and got.dtype == np.uint16
    diff = np.abs(got.astype(np.int64) - ref)
    # float accumulation in C++ against float64 here: at most 1 count apart, rarely.
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    # A pixel only one field covers keeps that field's raw value.
    tile = s.read(0, 0, 1, level=level)
    np.testing.assert_array_equal(got[1, 2:8, 2:8], tile[2:8, 2:8])


def test_read_region_uses_the_registration(tmp_path):
    path = str(tmp_path / "reg.h5")
    run("simulate", path, "--rows", "2", "--cols", "3", "--channels", "1", "--tile", "320x256",
        "--overlap", "0.25", "--stage-jitter-um", "4", "--quiet")
    s = vslide.open(path)
    assert s.registration is None
    stage = s.read_region(0, 0, s.frame["width"], s.frame["height"], channels=0)
    s.close()
    run("register", path, "--no-colour")
    s = vslide.open(path)
    reg = s.registration
    assert reg is not None and len(reg["fields"]) == 6 and reg["fields"]["measured"].any()
    assert s.frame["registered"] is True
    placed = {(int(r["row"]), int(r["col"])): (r["x_um"], r["y_um"]) for r in reg["fields"]}
    moved = max(abs(placed[(int(r["row"]), int(r["col"]))][0] - r["stage_x_um"]) for r in s.fields)
    assert moved > 0.05, "the registration should move a field"
    frame = s.frame
    got = s.read_region(0, 0, frame["width"], frame["height"], channels=[0])
    ref = fused_reference(s, 0, 0, frame["width"], frame["height"], 0, [0], positions=placed)
    assert np.abs(got.astype(np.int64) - ref).max() <= 1
    # registered=False is the stage mosaic again.
    np.testing.assert_array_equal(
        s.read_region(0, 0, stage.shape[1], stage.shape[0], channels=np.int64(0), registered=False), stage)


def gain_at(gain, u, v):
    """FlatField::gain_at: bilinear between the grid's cell centres, clamped."""
    gh, gw = gain.shape
    gx = np.clip(u * gw - 0.5, 0, gw - 1)
    gy = np.clip(v * gh - 0.5, 0, gh - 1)
    x0, y0 = np.floor(gx).astype(int), np.floor(gy).astype(int)
    x1, y1 = np.minimum(x0 + 1, gw - 1), np.minimum(y0 + 1, gh - 1)
    fx, fy = gx - x0, gy - y0
    top = gain[y0, x0] + (gain[y0, x1] - gain[y0, x0]) * fx
    bottom = gain[y1, x0] + (gain[y1, x1] - gain[y1, x0]) * fx
    return top + (bottom - top) * fy


def test_read_region_applies_the_stored_flatfield(tmp_path):
    path = str(tmp_path / "ff.h5")
    run("simulate", path, "--rows", "2", "--cols", "2", "--channels", "1", "--tile", "128x96", "--quiet")
    assert vslide.open(path).flatfield(0) is None
    run("flatfield", path, "--dark", "100")
    s = vslide.open(path)
    ff = s.flatfield(0)
    assert ff is not None and ff["gain"].dtype == np.float32 and abs(float(ff["gain"].mean()) - 1) < 0.05
    raw = s.read_region(0, 0, 20, 20, channels=0, flatfield=False)
    got = s.read_region(0, 0, 20, 20, channels=0)
    # Inside field (0, 0) alone (the top-left corner of the frame is its top-left pixel).
    f0 = s.fields[0]
    assert f0["stage_x_um"] == s.fields["stage_x_um"].min() and f0["stage_y_um"] == s.fields["stage_y_um"].min()
    g = s.geometry
    yy, xx = np.mgrid[0:20, 0:20]
    gain = gain_at(ff["gain"].astype(np.float64), (xx + 0.5) / g.tile_width, (yy + 0.5) / g.tile_height)
    want = np.clip(np.floor(ff["dark"] + (raw - ff["dark"]) / gain + 0.5), 0, 65535)
    assert np.abs(got.astype(np.int64) - want).max() <= 1
    assert (got != raw).any()


def test_read_region_sub_window_and_single_channel(slide_path):
    s = vslide.open(slide_path)
    whole = s.read_region(0, 0, s.frame["width"], s.frame["height"], channels=[1])
    part = s.read_region(40, 30, 170, 101, channels=1)
    assert part.shape == (71, 130)
    np.testing.assert_array_equal(part, whole[0, 30:101, 40:170])
    # Past the mosaic's edge the region is 0.
    edge = s.read_region(-10, -10, 5, 5, channels=0)
    assert (edge[:10, :] == 0).all() and (edge[10:, 10:] > 0).any()


def test_sparse_mosaic_and_missing_tiles(sparse_path):
    s = vslide.open(sparse_path)
    present = {(int(r["row"]), int(r["col"])) for r in s.fields if r["planes_present"] > 0}
    missing = [(r, c) for r in range(3) for c in range(3) if (r, c) not in present]
    assert missing, "the sparse slide should lack a field"
    with pytest.raises(vslide.NotFoundError) as e:
        s.read(*missing[0], 0)
    assert "sparse.h5" in str(e.value) and e.value.code == "NotFound"
    assert isinstance(e.value, LookupError)
    got = s.read_region(0, 0, s.frame["width"], s.frame["height"])
    ref = fused_reference(s, 0, 0, s.frame["width"], s.frame["height"], 0, [0])
    assert np.abs(got.astype(np.int64) - ref).max() <= 1


def test_errors_carry_vslide_messages(slide_path, tmp_path):
    with pytest.raises(vslide.NotFoundError, match="nothere.h5"):
        vslide.open(str(tmp_path / "nothere.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(vslide.VslideError, match="junk.h5"):
        vslide.open(str(junk))
    s = vslide.open(slide_path)
    with pytest.raises(vslide.OutOfRangeError) as e:
        s.read(5, 0, 0)
    assert isinstance(e.value, IndexError) and "sim.h5" in str(e.value)
    with pytest.raises(vslide.InvalidArgumentError, match="channel 7"):
        s.read_region(0, 0, 10, 10, channels=[7])
    with pytest.raises(ValueError, match="empty or inverted"):
        s.read_region(10, 10, 5, 5)
    with pytest.raises(vslide.NotFoundError, match="no detection layer 'nope'"):
        s.read_labels("nope", 0, 0)
    s.close()
    with pytest.raises(vslide.FailedPreconditionError, match="closed"):
        s.read(0, 0, 0)


def test_detection_layers(slide_path):
    s = vslide.open(slide_path)
    assert "nuclei" in s.detection_layers
    labels = s.read_labels("nuclei", 1, 1)
    assert labels.dtype == np.uint32 and labels.shape == (64, 96)
    objects = json.loads(s.read_objects_json("nuclei"))
    rec = s.read_objects("nuclei")
    assert len(rec) == len(objects) > 0
    for name in objects[0]:
        assert name in rec.dtype.names
    first = objects[0]
    for name, value in first.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert rec[name][0] == pytest.approx(value)


def test_overview(slide_path):
    s = vslide.open(slide_path)
    img, meta = s.overview(0)
    assert img.dtype == np.uint16 and img.ndim == 2 and img.size > 0
    assert meta["um_per_px"] > 0


def test_served_slide_reads_like_the_file(slide_path, served_url):
    local = vslide.open(slide_path)
    remote = vslide.open(served_url)
    assert remote.header.slide_id == local.header.slide_id
    assert remote.path.startswith("tcp://")
    n = 0
    for row, col, c, z, t in every_plane(local):
        np.testing.assert_array_equal(remote.read(row, col, c, z, t), local.read(row, col, c, z, t))
        n += 1
    assert n == 6 * 2 * 2
    np.testing.assert_array_equal(remote.fields, local.fields)
    np.testing.assert_array_equal(remote.read_region(10, 5, 200, 120, level=1),
                                  local.read_region(10, 5, 200, 120, level=1))
    # Errors name the URL and carry the server's own message.
    with pytest.raises(vslide.NotFoundError, match="vs-nobody.*not served here"):
        vslide.open(served_url.rsplit("/", 1)[0] + "/vs-nobody")
    with pytest.raises(vslide.OutOfRangeError) as e:
        remote.read(99, 0, 0)
    assert str(e.value).startswith(served_url) and "tile (99,0)" in str(e.value) and "outside" in str(e.value)
    with pytest.raises(vslide.InvalidArgumentError, match="channel 7"):
        remote.read_region(0, 0, 10, 10, channels=[7])
    with pytest.raises(vslide.NotFoundError, match="no detection layer 'nope'"):
        remote.read_labels("nope", 0, 0)


def test_cmake_install_gives_an_importable_package(tmp_path):
    build = os.path.dirname(os.path.dirname(os.path.abspath(vslide.__file__)))
    cache = os.path.join(os.path.dirname(build), "CMakeCache.txt")
    if not os.path.exists(cache):
        pytest.skip("not run from a build tree")
    r = subprocess.run(["cmake", "--install", os.path.dirname(build), "--prefix", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    pkgs = [d for d, _, files in os.walk(tmp_path) if "__init__.py" in files]
    assert pkgs, r.stdout
    site = os.path.dirname(pkgs[0])
    # From an empty folder, so that only the installed copy can be found.
    env = {"PYTHONPATH": site, "PATH": os.environ.get("PATH", "")}
    # The sanitizer build preloads the ASan runtime into python (python/CMakeLists.txt).
    env.update({k: os.environ[k] for k in ("LD_PRELOAD", "ASAN_OPTIONS") if k in os.environ})
    r = subprocess.run(["/usr/bin/python3", "-c", "import vslide; print(vslide.__file__); vslide.Slide"],
                       env=env, cwd=str(tmp_path),
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith(str(tmp_path)), r.stdout + r.stderr
