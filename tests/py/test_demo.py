"""The README demo runs as documented and leaves nothing behind."""
import os
import re

import pytest

from conftest import BUILDDIR, SRCDIR, run


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="the demo's network device is a real tap: root only")
def test_readme_demo():
    proc = run(["bash", os.path.join(SRCDIR, "tests", "demo.sh"), BUILDDIR])
    out = proc.stdout
    assert re.search(r"^alice\s+1\s+running$", out, re.M)
    assert "dom0 reads: hello" in out
    assert "alice may not write bob's nodes" in out
    assert "watch fired: @releaseDomain" in out
    assert "backend state 4, frontend state 4: Connected" in out
    assert "after Closing: backend state 6, frontend state 6: Closed" in out
    hostdir = re.search(r"^host directory: (\S+)$", out, re.M).group(1)
    assert not os.path.exists(hostdir)
    # bob is gone from the listing printed after the destroy
    after = out.split("watch fired:")[1]
    assert "bob" not in after.split("== stop")[0]
