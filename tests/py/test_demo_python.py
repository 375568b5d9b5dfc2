"""The README's Python demo (tests/demo.py) runs as documented and leaves
nothing behind."""
import os
import re
import sys

import pytest

from conftest import BUILDDIR, SRCDIR, run


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="the demo uses a loop device: root only")
def test_python_demo():
    proc = run([sys.executable, os.path.join(SRCDIR, "tests", "demo.py"),
                BUILDDIR])
    out = proc.stdout
    assert re.search(r"^added vbd/51728@\d+\(backend 0\) and "
                     r"vif/0@\d+\(backend \d+\)$", out, re.M), out
    assert re.search(r"vbd/51728@\d+\(backend 0\): frontend CONNECTED, "
                     r"backend CONNECTED, online True", out), out
    assert re.search(r"^DEVICE_GONE for vif/0@", out, re.M), out
    assert "removing it now: XDEV_E_NO_DEVICE" in out
    assert "devices left: 0" in out
    hostdir = re.search(r"^host directory: (\S+)$", out, re.M).group(1)
    assert not os.path.exists(hostdir)


def docs_example(path, marker):
    """The ```python block of docs/PATH that contains MARKER, verbatim."""
    with open(os.path.join(SRCDIR, "docs", path)) as f:
        text = f.read()
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        if marker in block:
            return block
    raise AssertionError(f"no python example with {marker!r} in {path}")


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="the example's host has its own network "
                    "namespace: root only")
def test_python_md_simhost_example_runs_as_written(tmp_path):
    """docs/python.md's SimHost example, saved as a script and run as a
    reader would run it (the binding from the tree, libxdev and xdev-sim
    from the build): it prints the NIC it added and leaves no host."""
    script = tmp_path / "example.py"
    script.write_text(docs_example("python.md", "SimHost("))
    env = dict(os.environ, PYTHONPATH=os.path.join(SRCDIR, "python"),
               XDEV_LIBRARY=os.path.join(BUILDDIR, "lib", ".libs",
                                         "libxdev.so"),
               XDEV_BUILDDIR=BUILDDIR)
    proc = run([sys.executable, str(script)], env=env, cwd=str(tmp_path))
    assert re.fullmatch(r"vif/0@\d+\(backend 0\)\n", proc.stdout), \
        proc.stdout + proc.stderr
