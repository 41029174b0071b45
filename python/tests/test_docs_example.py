"""The notebook example of docs/PYTHON.md, run as pasted (only the file name
changed) on a simulated slide with a nuclei layer, once from the file and once
from a served URL: the doc cannot drift from the module."""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import run, vslide_binary

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "PYTHON.md")


def example_code():
    text = open(DOC, encoding="utf-8").read()
    m = re.search(r"## A notebook session\n\n```python\n(.*?)```", text, re.S)
    assert m, "docs/PYTHON.md lost its notebook example"
    code = m.group(1)
    assert 'vslide.open("plate3_B4.h5")' in code
    return code


@pytest.fixture(scope="module")
def doc_slide(tmp_path_factory):
    # Row 2, column 3 exist (the example reads them); tiles big enough for a 1024-px crop around a field.
    path = str(tmp_path_factory.mktemp("doc") / "plate3_B4.h5")
    run("simulate", path, "--rows", "3", "--cols", "4", "--channels", "2", "--tile", "640x512", "--quiet")
    run("detect", path, "--pipeline", "nuclei")
    return path


def run_example(tmp_path, source):
    script = tmp_path / "example.py"
    script.write_text(example_code().replace('"plate3_B4.h5"', json.dumps(source)))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MPLBACKEND="Agg"))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_example_runs_on_a_file(doc_slide, tmp_path):
    out = run_example(tmp_path, doc_slide)
    assert "(2, 1024, 1024)" in out        # the crop around a stage point
    assert "['nuclei']" in out
    assert "OutOfRange" in out and "plate3_B4.h5" in out   # the error's code and vslide's message


def test_example_runs_on_a_served_slide(doc_slide, tmp_path):
    slide_id = json.loads(run("info", "--json", doc_slide))["slide_id"]
    proc = subprocess.Popen([vslide_binary(), "serve", "--json", doc_slide, "--bind", "tcp://127.0.0.1:*"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = json.loads(proc.stdout.readline())["endpoint"] + "/" + slide_id
        out = run_example(tmp_path, url)
        assert "(2, 1024, 1024)" in out
        assert "OutOfRange " + url in out    # the URL, then the server's own message
    finally:
        proc.terminate()
        proc.wait(timeout=30)
