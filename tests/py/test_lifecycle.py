"""The lifecycle matrix: every way a device can be added and removed, on the
simulated host, through the Python binding.

    {vbd, vif} x {dom0 backend, driver-domain backend}
      x {C xenstored, oxenstored}
      x {add, safe/auto/force remove}
      x {healthy, each fault of the simulated drivers, the backend domain
         destroyed at each step, the frontend domain destroyed at each
         step, a guest kexec in the middle}

Each case gets a fresh guest (and driver domain, running xdevd with the
test scripts of tests/hotplug), runs its scenario inside the host
(SimHost.call: the library needs libfakexen.so preloaded), and asserts the
result, the events, the device's nodes right after the operation, and, at
the end, that the store is exactly as before the case, that every add
script has its remove script (the hotplug record) and that no process,
interface or loop device is left.  One host per daemon serves all cases.
"""
import collections
import math
import os
import re
import subprocess
import sys
import time

import pytest

import xdev
from conftest import SRCDIR
from xdev.testing import SimHost

TEST_SCRIPTS = os.path.join(SRCDIR, "tests", "hotplug")
REMOVE_S = 0.8      # the removal timeout, which cases run into
INIT_S = 1.0        # the InitWait timeout, for the cases that run into it
QUICK_S = 0.6       # "at once": well below REMOVE_S

Case = collections.namedtuple("Case", "dtype backend op cond")


# ---- the cases -----------------------------------------------------------

FRONTEND_FAULTS = ["frontend-unresponsive", "frontend-refuse-close",
                   "slow=40"]
BACKEND_FAULTS = ["backend-unresponsive", "backend-delete-on-close",
                  "slow=40"]


def steps(dtype, op, end):
    """The states END's driver enters during OP: where destroy-at bites.
    A vif frontend goes straight to Connected (netfront), a vbd one through
    Initialised; a backend never enters Initialised."""
    if op == "add":
        if end == "backend":
            return ["initwait", "connected"]
        return (["initialised"] if dtype == "vbd" else []) + ["connected"]
    # a forced removal asks no one to close: the frontend directory is
    # deleted, so the frontend never steps (nothing to destroy at)
    if op == "force" and end == "frontend":
        return []
    return ["closing", "closed"]


def conditions(dtype, backend, op):
    yield "healthy"
    for f in FRONTEND_FAULTS:
        yield f"frontend:{f}"
    for f in BACKEND_FAULTS:
        yield f"backend:{f}"
    # dom0 cannot be destroyed: the backend-destroyed cases need a driver
    # domain
    if backend == "driver":
        for s in steps(dtype, op, "backend"):
            yield f"backend:destroy-at={s}"
    for s in steps(dtype, op, "frontend"):
        yield f"frontend:destroy-at={s}"
    yield "kexec"


def all_cases():
    for dtype in ("vbd", "vif"):
        for backend in ("dom0", "driver"):
            for op in ("add", "safe", "auto", "force"):
                for cond in conditions(dtype, backend, op):
                    yield Case(dtype, backend, op, cond)


CASES = list(all_cases())


def known_gap(case):
    """(the library bug a case runs into, whether it always shows), or
    None.  None is known today: the function stays as the place to name
    one, with its reproducer, rather than loosening a case's want()."""
    return None


def params():
    for case in CASES:
        gap = known_gap(case)
        marks = [pytest.mark.xfail(reason=gap[0], strict=gap[1])] \
            if gap else []
        yield pytest.param(case, marks=marks, id=_case_id(case))


def _case_id(case):
    return f"{case.dtype}-{case.backend}-{case.op}-{case.cond}"


# ---- what each case must give --------------------------------------------

Want = collections.namedtuple("Want", "results gone kept slow")
# results: the acceptable result names; gone: DEVICE_GONE expected (True),
# forbidden (False), or either (None); kept: the device is still there
# after the operation (SAFE restores it); slow: the timeouts it runs into


def want(case):
    op, cond = case.op, case.cond
    end, _, fault = cond.partition(":")
    ok = Want({"0"}, False, False, 0)
    if cond in ("healthy", "kexec") or fault.startswith("slow="):
        return ok
    if fault.startswith("destroy-at="):
        if op == "add":
            if end == "frontend" and case.dtype == "vbd" and \
                    fault == "destroy-at=connected":
                # blkfront connects after its backend, which ends the add:
                # the guest may die just before or just after that (a
                # backend that closes because its frontend vanished is
                # the frontend gone, never -EIO)
                return Want({"0", "XDEV_E_FRONTEND_GONE"}, None, None, 0)
            return Want({"XDEV_E_BACKEND_GONE" if end == "backend" else
                         "XDEV_E_FRONTEND_GONE"}, None, False, 0)
        # a removal whose backend or frontend domain dies succeeds at once;
        # DEVICE_GONE comes if the library saw the death before the end
        return Want({"0"}, None, False, 0)
    if op == "add":
        if fault == "backend-unresponsive":
            return Want({"-ETIMEDOUT"}, False, False, 1)
        return ok  # the other faults concern closing only
    if op == "force":
        return ok  # waits for nothing
    if fault == "backend-delete-on-close":
        # with xdevd there, a backend directory vanishing after the
        # library asked it to close is the daemon's normal end (it deletes
        # it once Closed); in dom0 nobody but the library deletes it: the
        # device is gone
        return Want({"0"}, case.backend == "dom0", False, 0)
    if op == "safe":
        if fault == "frontend-refuse-close":
            return Want({"XDEV_E_FRONTEND_REFUSED"}, False, True, 0)
        return Want({"-ETIMEDOUT"}, False, True, 1)
    # auto: three quarters of the timeout, then the frontend is deleted;
    # an unresponsive backend makes it wait for Closed the rest of it
    return Want({"0"}, False, False,
                1 if fault == "backend-unresponsive" else 0.75)


# ---- inside the host (SimHost.call) ---------------------------------------

def _nodes(host, dev):
    return {"fe": host.exists(dev.frontend_path),
            "be": host.exists(dev.backend_path),
            "rec": host.exists(dev.record_path),
            "online": host.read(dev.backend_path + "/online")}


def _desc(case, target, backend_domid):
    # the default scripts (block, vif-bridge), which SCRIPTS has as `ok`
    backend = str(backend_domid) if case.backend == "driver" else None
    if case.dtype == "vbd":
        return xdev.Vbd(vdev="xvdb", target=target, backend=backend)
    return xdev.Vif(backend=backend)


def _until(ctx, cond, what, timeout=10):
    """Drive the loop until COND() holds (bounded)."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"{what}: not after {timeout} s"
        ctx.run(0.02)


def _kexec_when(host, ctx, guest, ready):
    """Start `xdev-sim kexec GUEST` once READY() holds, driving the loop
    meanwhile; returns the kexec process."""
    _until(ctx, ready, "the moment for kexec")
    return subprocess.Popen([host.xdev_sim, "kexec", str(guest)],
                            env=host.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _log_to_stderr(level, message):
    # the library's account, shown by pytest with a failing case
    print(f"{time.monotonic():.3f} xdev {level.name}: {message}",
          file=sys.stderr, flush=True)


def scenario(host, case, guest, drv, target, record):
    """Run CASE; returns what happened, for the test to judge."""
    os.environ["XDEV_TEST_RECORD"] = record   # the library's scripts
    end, _, fault = case.cond.partition(":")
    slow_init = case.op == "add" and fault == "backend-unresponsive"
    # the scripts (scripts_dir), not native hotplug
    ctx = xdev.Context(hotplug_dir=host.scripts, native=False,
                       timeout_remove=REMOVE_S,
                       timeout_init=INIT_S if slow_init else 10,
                       timeout_hotplug=10, log=_log_to_stderr,
                       log_level=xdev.LogLevel.DEBUG)
    backend_domid = drv if case.backend == "driver" else 0
    fault_dom = guest if end == "frontend" else backend_domid
    out = {"kexec": None}
    dev = None
    try:
        if case.op != "add":
            dev = ctx.add(guest, _desc(case, target, backend_domid),
                          wait_connected=True)
            assert host.wait(dev.frontend_path + "/state", "4"), \
                "the frontend did not connect"
            ctx.events_queue.clear()
        if fault:
            host.fault(fault_dom, fault,
                       device=f"{case.dtype}/{dev.devid}@{guest}"
                       if dev and end == "backend" else None)
        kexec = None
        t0 = time.monotonic()
        if case.op == "add":
            op = ctx.add_async(guest, _desc(case, target, backend_domid),
                               wait_connected=True)
            dev = op.device
            if case.cond == "kexec":
                # in the middle of the add: once the frontend answered
                # the backend's InitWait
                kexec = _kexec_when(host, ctx, guest, lambda: host.read(
                    dev.frontend_path + "/state") in ("3", "4"))
        else:
            if case.cond == "kexec":
                # the guest reboots as the removal starts: the two race
                kexec = _kexec_when(host, ctx, guest, lambda: True)
            op = ctx.remove_async(dev, case.op)
        op.wait(60)
        out["elapsed"] = time.monotonic() - t0
        out["result"] = xdev.code_name(op.code)
        out["message"] = op.message
        out["after"] = _nodes(host, dev)
        if kexec is not None:
            out["kexec"] = (kexec.wait(60), kexec.stderr.read())
        # let late events of the device arrive (a DEVICE_GONE follows the
        # death it reports): drive the loop until idle for a moment
        events = list(ctx.events(timeout=None if False else 0.3))
        out["events"] = [(ev.type.name, ev.backend_state,
                          xdev.code_name(ev.result))
                         for ev in events if ev.device == dev]
        # clean up what the case left, the way a manager would
        if fault and not fault.startswith("destroy-at="):
            host.fault_clear(fault_dom)
        out["cleanup"] = None
        if host.exists(dev.record_path) or host.exists(dev.frontend_path):
            try:
                ctx.remove(dev, "auto")
                out["cleanup"] = "0"
            except xdev.XdevError as e:
                out["cleanup"] = e.name
        out["final"] = _nodes(host, dev)
    finally:
        ctx.close()
    out["device"] = dev
    return out


# ---- the test ---------------------------------------------------------------

def scripts_dir(host):
    """A hotplug directory in HOST's directory with tests/hotplug's `ok`
    under the default names (block, vif-bridge): the cases name no script.
    (xdevd runs the *default* script on a backend deleted under it - a
    known gap asserted by test_binding.py - so a case naming `ok` would
    see `block` run for its removal.)"""
    d = os.path.join(host.dir, "hotplug")
    os.mkdir(d)
    for name in ("block", "vif-bridge"):
        os.symlink(os.path.join(TEST_SCRIPTS, "ok"), os.path.join(d, name))
    return d


@pytest.fixture(scope="module", params=["c", "o"],
                ids=["xenstored", "oxenstored"])
def matrix_host(request):
    h = SimHost(request.param)
    image = os.path.join(h.dir, "disk.img")
    with open(image, "wb") as f:
        f.truncate(4 << 20)
    loop = subprocess.run(["losetup", "--find", "--show", image],
                          capture_output=True, text=True, check=True)
    h.loopdev = loop.stdout.strip()
    h.scripts = scripts_dir(h)
    h.serial = 0
    try:
        yield h
    finally:
        subprocess.run(["losetup", "-d", h.loopdev], check=False)
        h.stop()


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="loop devices and network namespaces: root only")
@pytest.mark.parametrize("case", params())
def test_lifecycle(matrix_host, case):
    host = matrix_host
    host.serial += 1
    before = host.snapshot()
    links_before = host.links()
    # fresh domids per case: a failure names its domains unambiguously
    guest = host.domain_create(f"g{host.serial}", domid=2 * host.serial)
    drv = None
    record = os.path.join(host.dir, f"record-{host.serial}")
    if case.backend == "driver":
        drv = host.domain_create(f"d{host.serial}", "driver",
                                 domid=2 * host.serial + 1)
        host.start_xdevd(drv, host.scripts, timeout=10,
                         env={"XDEV_TEST_RECORD": record},
                         args=("--native", "never"))
    try:
        out = host.call(scenario, host, case, guest, drv, host.loopdev,
                        record)
    finally:
        if case.backend == "dom0" or case.op == "add":
            host.fault_clear(0)
        host.stop_xdevds()
        for name in (f"g{host.serial}", f"d{host.serial}"):
            if name in host.domains():
                host.domain_destroy(name)
    w = want(case)
    what = f"{out['result']} ({out['message']}) after " \
        f"{out['elapsed']:.2f} s; events {out['events']}; kexec " \
        f"{out['kexec']}"
    assert out["result"] in w.results, what
    # the timeouts it ran into, and only those
    assert out["elapsed"] >= w.slow * REMOVE_S * 0.95 if case.op != "add" \
        else out["elapsed"] >= w.slow * INIT_S * 0.95, what
    limit = (math.ceil(w.slow) + 1) * \
        (REMOVE_S if case.op != "add" else INIT_S) + 1.5
    assert out["elapsed"] < limit, what
    # the events: the operation's OP_DONE with its result, last of its
    # own; DEVICE_GONE as the case says
    done = [e for e in out["events"] if e[0] == "OP_DONE"]
    assert done and done[0][2] == out["result"], what
    gone = any(e[0] == "DEVICE_GONE" for e in out["events"])
    if w.gone is not None:
        assert gone == w.gone, what
    # the device's nodes right after the operation
    after = out["after"]
    if w.kept:
        assert after["fe"] and after["be"] and after["rec"], after
        assert after["online"] == "1", after
    elif w.kept is None:
        pass  # a domain died around the end of the operation
    elif out["result"] == "0" and case.op == "add":
        assert after["fe"] and after["be"] and after["rec"], after
    else:
        assert not (after["fe"] or after["rec"]), after
        assert not after["be"], after
    # the end: nothing of the device, of the case's domains, or of their
    # scripts is left
    assert out["cleanup"] in (None, "0"), out["cleanup"]
    final = out["final"]
    assert not (final["fe"] or final["be"] or final["rec"]), final
    assert_same_store(before, host.snapshot())
    assert host.links() == links_before
    assert host.loops() == [host.loopdev]
    _assert_scripts_balanced(record, case)


# /vm, which xdev-sim's domain-create makes and domain-destroy leaves (the
# simulator's toolstack part, not the library's).  The library leaves no
# empty directory above a device it removed (lib/prune.c).
EMPTY_PARENTS = re.compile(r"^/vm = \"\"  ")


def assert_same_store(before, after, strict=False):
    """The store is as it was: the nodes added and removed, if not."""
    added = sorted(set(after) - set(before))
    if not strict:
        added = [ln for ln in added if not EMPTY_PARENTS.match(ln)]
    removed = sorted(set(before) - set(after))
    assert not added and not removed, f"added {added}, removed {removed}"


def _assert_scripts_balanced(record, case):
    """Every add script had its remove script, once - unless the backend
    domain died, which ends its scripts with it.  A remove without an add
    is fine: an add script interrupted before it wrote its record."""
    try:
        with open(record) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    adds = collections.Counter(ln.split()[1] for ln in lines
                               if ln.split()[0] in ("add", "online"))
    removes = collections.Counter(ln.split()[1] for ln in lines
                                  if ln.split()[0] in ("remove", "offline"))
    backend_died = case.backend == "driver" and \
        case.cond.startswith("backend:destroy-at=")
    for path in set(adds) | set(removes):
        assert removes[path] <= 1, lines
        if not backend_died:
            assert adds[path] <= removes[path], lines
