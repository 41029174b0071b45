"""Fixtures: slides made by `vslide simulate` and one served by `vslide serve`.

VSLIDE_BINARY names the built `vslide` (ctest sets it, with PYTHONPATH
pointing at <build>/python)."""
import json
import os
import subprocess

import pytest


def vslide_binary():
    path = os.environ.get("VSLIDE_BINARY", "")
    assert path and os.path.exists(path), "VSLIDE_BINARY must name the built vslide (ctest sets it)"
    return path


def run(*args):
    r = subprocess.run([vslide_binary(), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"vslide {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


@pytest.fixture(scope="session")
def slide_path(tmp_path_factory):
    """2x3 fields of 96x64, 2 channels, 2 z planes, zoom layers, an overview
    and a nuclei detection layer."""
    path = str(tmp_path_factory.mktemp("slides") / "sim.h5")
    run("simulate", path, "--rows", "2", "--cols", "3", "--channels", "2", "--z", "2",
        "--tile", "96x64", "--quiet")
    run("pyramid", path, "--factors", "2,4", "--overview", "4")
    run("detect", path, "--pipeline", "nuclei")
    return path


@pytest.fixture(scope="session")
def sparse_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("slides") / "sparse.h5")
    run("simulate", path, "--rows", "3", "--cols", "3", "--channels", "1", "--tile", "64x48",
        "--sparse", "0.4", "--seed", "3", "--quiet")
    return path


@pytest.fixture(scope="session")
def served_url(slide_path):
    """`vslide serve` on a loopback port; yields tcp://127.0.0.1:PORT/SLIDE_ID."""
    slide_id = json.loads(run("info", "--json", slide_path))["slide_id"]
    proc = subprocess.Popen([vslide_binary(), "serve", "--json", slide_path, "--bind", "tcp://127.0.0.1:*"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        endpoint = json.loads(line)["endpoint"]
        yield f"{endpoint}/{slide_id}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
