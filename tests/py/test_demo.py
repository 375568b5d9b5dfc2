"""The README demo runs as documented and leaves nothing behind."""
import os
import re

from conftest import BUILDDIR, SRCDIR, run


def test_readme_demo():
    proc = run(["bash", os.path.join(SRCDIR, "tests", "demo.sh"), BUILDDIR])
    out = proc.stdout
    assert re.search(r"^alice\s+1\s+running$", out, re.M)
    assert "dom0 reads: hello" in out
    assert "alice may not write bob's nodes" in out
    assert "watch fired: @releaseDomain" in out
    hostdir = re.search(r"^host directory: (\S+)$", out, re.M).group(1)
    assert not os.path.exists(hostdir)
    # bob is gone from the listing printed after the destroy
    after = out.split("watch fired:")[1]
    assert "bob" not in after.split("== stop")[0]
