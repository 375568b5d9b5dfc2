"""examples/glib-manager.c, the GLib adapter's example manager
(include/xdev-glib.h), built against an installation's pkg-config files
(`make examples/glib-manager`, which make check builds first), run on the
simulated host.  What it prints is checked against the store, read from
outside: concurrent adds, a cancel, each removal mode, DEVICE_GONE of a
destroyed driver domain, and the context freed from a completion
callback.
"""
import os
import re
import shutil
import subprocess
import threading

import pytest

from conftest import BUILDDIR, SANITIZED
from test_binding import needs_root
from xdev.pytest_plugin import xdev_sim_host, xdev_sim_hosts  # noqa: F401

MANAGER = os.path.join(BUILDDIR, "examples", "glib-manager")
# Under valgrind where it can run (not an ASan build): the glue's memory,
# freed from inside a callback, is what a header-only adapter gets wrong.
VALGRIND = [] if SANITIZED or not shutil.which("valgrind") else [
    "valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
    "--errors-for-leak-kinds=definite"]
LINE = re.compile(r"^(?P<what>(add|remove \w+|cancel add) vif/(?P<devid>\d+)"
                  r"@\d+\(backend \d+\)): (?P<code>-?\d+) ")


@pytest.fixture(scope="module")
def manager():
    """The example, built as make check builds it (up to date there)."""
    proc = subprocess.run(["make", "-s", "-C", BUILDDIR,
                           "examples/glib-manager"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return MANAGER


def run_manager(host, manager, guest, drv):
    """Run it in dom0; destroy DRV when it waits for DEVICE_GONE.  Its
    lines and exit status."""
    proc = subprocess.Popen(
        host.exec_args(0) + VALGRIND + [manager, "-r", "1000", str(guest),
                                        str(drv)],
        env=host.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True)
    # every step is bounded (xdev's timeouts, its own deadlines): this is
    # for a manager that would hang all the same
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("waiting for DEVICE_GONE"):
                host.domain_destroy("drv")
        return lines, proc.wait(30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def vif(host, guest, devid, backend=0):
    """Which of the device's frontend, backend and record exist."""
    from xdev import DeviceId, DeviceType
    d = DeviceId(DeviceType.VIF, backend, guest, devid)
    return [host.exists(p) for p in (d.frontend_path, d.backend_path,
                                     d.record_path)]


@needs_root
def test_the_glib_manager_on_the_simulated_host(xdev_sim_host, manager):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    drv = host.domain_create("drv", "driver")
    # guest frontends that never answer: vif 5 (cancelled at the
    # manager's deadline), vif 1 and 2 (SAFE gives up, AUTO forces) and
    # vif 7 (still pending when the context is freed)
    for devid in (1, 2, 5, 7):
        host.fault(guest, "frontend-unresponsive", device=f"vif/{devid}")
    lines, status = run_manager(host, manager, guest, drv)
    out = "\n".join(lines)
    assert status == 0 and lines[-1] == "done: 0", out
    codes = {m["what"].split(" vif/")[0] + " " + m["devid"]: int(m["code"])
             for m in map(LINE.match, lines) if m}
    assert codes == {
        "add 1": 0, "add 2": 0, "add 3": 0, "add 4": 0,
        "cancel add 5": 0, "add 5": -125,
        "remove safe 1": -110, "remove auto 2": 0, "remove force 3": 0,
        "add 6": 0, "add 7": -125}, out
    # each step's operations under way together
    for step, n in (("adds", 5), ("removals", 3), ("teardown adds", 2)):
        assert f"{step}: {n} under way" in lines, out
    gone = f"DEVICE_GONE vif/4@{guest}(backend {drv}): backend domain alive 0"
    assert gone in lines, out
    # the free inside vif 6's callback cancelled vif 7, whose callback
    # ran inside it, after
    freeing = [i for i, s in enumerate(lines) if s.startswith("freeing")]
    assert len(freeing) == 1, out
    assert lines[freeing[0] - 1].startswith(f"add vif/6@{guest}"), out
    assert lines[freeing[0] + 1].startswith(f"add vif/7@{guest}"), out

    # the store, read from outside
    assert vif(host, guest, 1) == [True, True, True]   # SAFE restored it
    be1 = f"/local/domain/0/backend/vif/{guest}/1"
    assert host.read(be1 + "/online") == "1"
    assert host.read(be1 + "/state") == "2"             # InitWait again
    for devid in (2, 3, 5, 7):                          # removed, undone
        assert vif(host, guest, devid) == [False] * 3, devid
    assert vif(host, guest, 4, drv) == [False] * 3      # with its domain
    assert vif(host, guest, 6) == [True] * 3           # outlives the ctx
