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
