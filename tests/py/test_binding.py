"""The Python binding (python/xdev): its API against the simulated host.

The library's process must have libfakexen.so preloaded and live in the
host's namespace, so every body that uses a Context runs inside the host
through SimHost.call (xdev.testing); the test around it checks the store
and the host from outside.
"""
import gc
import logging
import os
import pickle
import subprocess
import sys
import time

import pytest

import xdev
from conftest import BUILDDIR, SRCDIR
from xdev.pytest_plugin import xdev_sim_host, xdev_sim_hosts  # noqa: F401

TEST_SCRIPTS = os.path.join(SRCDIR, "tests", "hotplug")
REAL_SCRIPTS = os.path.join(SRCDIR, "hotplug")
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="loop devices, namespaces: root only")


# ---- without a host -----------------------------------------------------------

def test_errors_carry_the_code_name_and_message():
    e = xdev.error_for(xdev.errors.E_HOTPLUG_FAILED, "no block device")
    assert isinstance(e, xdev.HotplugFailed) and isinstance(e, xdev.XdevError)
    assert e.code == xdev.errors.E_HOTPLUG_FAILED
    assert e.name == "XDEV_E_HOTPLUG_FAILED"
    assert str(e) == "Hotplug script failed: no block device"
    assert isinstance(xdev.error_for(-110), xdev.XdevTimeout)
    assert isinstance(xdev.error_for(-110), TimeoutError)
    assert isinstance(xdev.error_for(-125), xdev.Cancelled)
    assert isinstance(xdev.error_for(-22), ValueError)
    assert type(xdev.error_for(-5)) is xdev.XdevError
    assert xdev.code_name(-110) == "-ETIMEDOUT"
    # they survive pickling (SimHost.call sends them back)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is xdev.HotplugFailed
    assert (back.code, back.message, str(back)) == (e.code, e.message, str(e))


def test_version_is_the_library_s():
    assert xdev.version() == xdev.__version__
    assert xdev.version().count(".") == 2


def test_a_missing_library_fails_at_first_use_saying_what_to_do():
    """`import xdev` works without libxdev; the first use raises
    xdev.LibraryMissing naming the library and the fix."""
    env = dict(os.environ, XDEV_LIBRARY="/nonexistent/libxdev.so",
               PYTHONPATH=os.path.join(SRCDIR, "python"))
    code = ("import xdev\n"
            "print('imported')\n"
            "try:\n"
            "    xdev.Context()\n"
            "except xdev.LibraryMissing as e:\n"
            "    print('missing:', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("imported\nmissing: cannot load libxdev "
                                  "(/nonexistent/libxdev.so)")
    assert "set XDEV_LIBRARY" in proc.stdout


def test_descriptions_are_dataclasses_with_the_xl_keys():
    d = xdev.Vbd(vdev="xvdb", target="/dev/loop0", access="r", backend=3)
    assert list(d.items()) == [("vdev", "xvdb"), ("target", "/dev/loop0"),
                               ("access", "r"), ("backend", "3")]
    assert list(xdev.Vif(mtu=1400).items()) == [("mtu", "1400")]


# ---- inside a host: the bodies ---------------------------------------------

def _ctx(**kw):
    kw.setdefault("hotplug_dir", TEST_SCRIPTS)
    kw.setdefault("timeout_remove", 2)
    return xdev.Context(**kw)


def round_trip(host, guest, loopdev):
    """add (sync), list, remove (sync); the events in order."""
    seen = []
    with _ctx(on_event=seen.append) as ctx:
        disk = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                       script="ok"), wait_connected=True)
        nic = ctx.add(guest, xdev.Vif(script="ok", mac="00:16:3e:00:00:07"))
        listed = ctx.list_devices(guest)
        ctx.unmonitor(nic)
        try:
            ctx.unmonitor(nic)
            listed = None  # a second unmonitor must raise NoDevice
        except xdev.NoDevice:
            pass
        be_mac = host.read(nic.backend_path + "/mac")
        ctx.remove(disk, mode="safe")
        ctx.remove(nic, mode=xdev.RemoveMode.FORCE)
        gone = [host.exists(p) for d in (disk, nic)
                for p in (d.frontend_path, d.backend_path, d.record_path)]
        queued = list(ctx.events(timeout=0))
    return disk, nic, listed, be_mac, gone, seen, queued


def bounded_queue(host, guest, loopdev):
    """A context keeping 2 events: an add and a removal make more."""
    seen, said = [], []
    with _ctx(on_event=seen.append, queue_events=2,
              log=lambda level, m: said.append(m)) as ctx:
        disk = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                       script="ok"), wait_connected=True)
        ctx.remove(disk, mode="safe")
        queued = list(ctx.events(timeout=0))
        dropped = ctx.events_dropped
    return seen, queued, dropped, said


@needs_root
def test_the_event_queue_is_bounded(xdev_sim_host, tmp_loop):
    """The queue keeps the newest QUEUE_EVENTS events, counts the dropped
    ones and says so once; the callback sees them all."""
    host = xdev_sim_host
    guest = host.domain_create("guest")
    seen, queued, dropped, said = host.call(bounded_queue, host, guest,
                                            tmp_loop(host))
    assert len(seen) > 2
    assert queued == seen[-2:]
    assert dropped == len(seen) - 2
    assert sum("event queue is full" in m for m in said) == 1
    for bad in (0, -1, "2", 1.5):
        with pytest.raises(ValueError, match="queue_events"):
            xdev.Context(queue_events=bad)


@needs_root
def test_add_list_remove_round_trip(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    disk, nic, listed, mac, gone, seen, queued = host.call(
        round_trip, host, guest, tmp_loop(host))
    assert disk == xdev.DeviceId(xdev.DeviceType.VBD, 0, guest, 51728)
    assert nic == xdev.DeviceId(xdev.DeviceType.VIF, 0, guest, 0)
    assert str(disk) == f"vbd/51728@{guest}(backend 0)"
    by_id = {i.id: i for i in listed}
    assert by_id[disk].backend_state == xdev.XenbusState.CONNECTED
    assert by_id[disk].online is True
    assert by_id[nic].backend_state in (xdev.XenbusState.INIT_WAIT,
                                        xdev.XenbusState.CONNECTED)
    assert mac == "00:16:3e:00:00:07"
    assert gone == [False] * 6
    # the callback and the queue saw the same events: per device progress,
    # then OP_DONE with the result
    assert seen == queued
    disk_events = [(e.type, e.backend_state) for e in seen
                   if e.device == disk]
    assert disk_events[-1] == (xdev.EventType.OP_DONE, 0)
    assert (xdev.EventType.DEVICE_STATE, 4) in disk_events
    assert (xdev.EventType.DEVICE_STATE, 6) in disk_events
    assert not any(e.type == xdev.EventType.DEVICE_GONE for e in seen)
    assert_store_back(before, host.snapshot())


def async_ops(host, guest, loopdev):
    """add_async / remove_async: future-like handles and callbacks."""
    calls = []
    with _ctx() as ctx:
        op = ctx.add_async(guest, xdev.Vbd(vdev="xvdc", target=loopdev,
                                           script="ok"),
                           wait_connected=True, callback=calls.append)
        started = (op.done(), op.device, list(ctx.pending) == [op])
        dev = op.result(timeout=20)
        late = []
        op.add_done_callback(late.append)  # done already: at once
        rm = ctx.remove_async(dev, "auto")
        rm.wait(20)
        return (started, dev, calls == [op], late == [op], op.code,
                rm.result(), rm.code, ctx.pending, repr(rm))


@needs_root
def test_async_operations_are_futures(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    started, dev, called, late, code, rm_result, rm_code, pending, r = \
        host.call(async_ops, host, guest, tmp_loop(host))
    assert started == (False, dev, True)  # never done inside the start
    assert dev.devid == 51744 and called and late and code == 0
    assert rm_result is None and rm_code == 0 and pending == []
    assert "remove" in r and "done: 0" in r


def errors_in_host(host, guest, loopdev):
    """Each failure as its exception, with the library's message."""
    out = {}
    with _ctx(timeout_init=0.5) as ctx:
        def catch(name, fn):
            try:
                fn()
                out[name] = None
            except xdev.XdevError as e:
                out[name] = (type(e).__name__, e.name, e.message,
                             getattr(e, "device", None))

        good = xdev.Vbd(vdev="xvdb", target=loopdev, script="ok")
        catch("bad-vdev", lambda: ctx.add(guest, xdev.Vbd(vdev="nope",
                                                          target=loopdev)))
        catch("no-target", lambda: ctx.add(guest, xdev.Vbd(vdev="xvdb")))
        catch("no-domain", lambda: ctx.add(4242, good))
        catch("hotplug", lambda: ctx.add(guest, xdev.Vbd(
            vdev="xvdb", target=loopdev, script="fail")))
        dev = ctx.add(guest, good)
        catch("exists", lambda: ctx.add(guest, good))
        # asynchronous: the check against the store is the operation's
        catch("exists-async", lambda: ctx.add_async(guest, good).result(10))
        catch("no-device", lambda: ctx.remove(xdev.DeviceId(
            xdev.DeviceType.VBD, 0, guest, 5)))
        ctx.remove(dev)
        host.fault(0, "backend-unresponsive")
        catch("timeout", lambda: ctx.add(guest, good))
        host.fault_clear(0)
        try:
            ctx.remove(dev, mode="sideways")
        except ValueError as e:
            out["bad-mode"] = str(e)
    return out


@needs_root
def test_errors_raise_their_exceptions(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    out = host.call(errors_in_host, host, guest, tmp_loop(host))
    assert out["bad-vdev"][:2] == ("InvalidArgument", "-EINVAL")
    assert "vdev" in out["bad-vdev"][2] and "nope" in out["bad-vdev"][2]
    assert out["no-target"][:2] == ("InvalidArgument", "-EINVAL")
    assert "target" in out["no-target"][2]
    assert out["no-domain"][:2] == ("DomainNotFound",
                                    "XDEV_E_DOMAIN_NOT_FOUND")
    assert out["hotplug"][:3] == ("HotplugFailed", "XDEV_E_HOTPLUG_FAILED",
                                  "the test script fails on purpose")
    assert out["hotplug"][3].devid == 51728  # the exception's device
    assert out["exists"][:2] == ("DeviceExists", "XDEV_E_DEVICE_EXISTS")
    assert out["exists-async"][:2] == ("DeviceExists",
                                       "XDEV_E_DEVICE_EXISTS")
    assert out["no-device"][:2] == ("NoDevice", "XDEV_E_NO_DEVICE")
    assert out["timeout"][:2] == ("XdevTimeout", "-ETIMEDOUT")
    assert "InitWait" in out["timeout"][2]
    assert "unknown remove mode 'sideways'" in out["bad-mode"]
    assert_store_back(before, host.snapshot())


def close_with_pending(host, guest, loopdev):
    """Closing the context cancels what is pending, through the callbacks,
    with no crash; the handles stay usable."""
    calls = []
    host.fault(0, "backend-unresponsive")
    ctx = _ctx()
    ops = [ctx.add_async(guest, xdev.Vbd(vdev=v, target=loopdev,
                                         script="ok"),
                         callback=lambda op: calls.append(op.code))
           for v in ("xvdb", "xvdc", "xvdd")]
    devs = [op.device for op in ops]
    ctx.run(0.05)
    del ops
    gc.collect()  # the library still holds the callbacks: nothing freed
    ctx.close()
    ctx.close()  # idempotent
    host.fault_clear(0)
    try:
        ctx.run(0)
    except ValueError as e:
        closed = str(e)
    left = [host.exists(d.backend_path) or host.exists(d.frontend_path)
            for d in devs]
    return calls, closed, left


@needs_root
def test_closing_with_operations_pending_cancels_them(xdev_sim_host,
                                                      tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    calls, closed, left = host.call(close_with_pending, host, guest,
                                    tmp_loop(host))
    assert calls == [-125] * 3
    assert closed == "the context is closed"
    assert left == [False] * 3
    assert_store_back(before, host.snapshot())


def close_without_blocking(host, guest, loopdev):
    host.fault(0, "backend-unresponsive")
    calls = []
    ctx = _ctx()
    op = ctx.add_async(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                       script="ok"),
                       callback=lambda op: calls.append(op.code))
    ctx.run(0.05)
    out = {"pending": len(ctx.pending), "begin": ctx.begin_close(),
           "calls_at_once": list(calls)}
    try:
        ctx.add_async(guest, xdev.Vbd(vdev="xvdc", target=loopdev,
                                      script="ok"))
    except xdev.XdevError as e:
        out["refused"] = e.name
    op.wait(10)
    out["after"] = (len(ctx.pending), list(calls))
    ctx.close()
    out["closed"] = len(ctx.pending)
    host.fault_clear(0)
    out["left"] = host.exists(op.device.backend_path)
    return out


@needs_root
def test_begin_close_cancels_without_blocking(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    out = host.call(close_without_blocking, host, guest, tmp_loop(host))
    assert out == {"pending": 1, "begin": 1, "calls_at_once": [],
                   "refused": "-ESHUTDOWN", "after": (0, [-125]),
                   "closed": 0, "left": False}
    assert_store_back(before, host.snapshot())


def per_operation_timeouts(host, guest, loopdev):
    out = {}
    with _ctx(timeout_remove=60) as ctx:
        dev = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                      script="ok"), wait_connected=True)
        host.fault(guest, "frontend-unresponsive")
        try:
            ctx.remove(dev, "safe", timeout_remove=0.3)
        except xdev.XdevError as e:
            out["sync"] = (e.name, "within 300 ms" in e.message)
        op = ctx.remove_async(dev, "safe", timeout_remove=0.4)
        try:
            op.result(20)
        except xdev.XdevError as e:
            out["async"] = (e.name, "within 400 ms" in e.message)
        try:
            ctx.remove(dev, "safe", timeout_init=1)
        except TypeError as e:
            out["bad"] = str(e)
        host.fault_clear(guest)
        ctx.remove(dev, "safe")
    return out


@needs_root
def test_per_operation_timeouts(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    out = host.call(per_operation_timeouts, host, guest, tmp_loop(host))
    assert out["sync"] == ("-ETIMEDOUT", True)
    assert out["async"] == ("-ETIMEDOUT", True)
    assert "timeout_init" in out["bad"] and "timeout_remove" in out["bad"]
    assert_store_back(before, host.snapshot())


def cancel_and_callback_errors(host, guest, loopdev):
    out = {}
    host.fault(0, "backend-unresponsive")
    with _ctx() as ctx:
        op = ctx.add_async(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                           script="ok"))
        ctx.run(0.05)
        before = op.cancelled()
        out["cancel"] = op.cancel()
        # asked: cancelled at once, as a future says (while it has not
        # completed otherwise)
        out["cancelled_at_once"] = (before, op.cancelled())
        out["again"] = op.cancel()
        try:
            op.result(10)
        except xdev.Cancelled as e:
            out["result"] = e.name
        out["after"] = op.cancel()   # done: nothing to cancel
        out["cancelled"] = op.cancelled()

        def boom(op):
            raise RuntimeError("from a callback")
        op2 = ctx.add_async(guest, xdev.Vbd(vdev="xvdc", target=loopdev,
                                            script="ok"), callback=boom)
        op2.cancel()
        try:
            op2.wait(10)
        except RuntimeError as e:
            out["raised"] = str(e)
        out["op2"] = op2.code
    host.fault_clear(0)
    return out


@needs_root
def test_cancel_and_exceptions_from_callbacks(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    out = host.call(cancel_and_callback_errors, host, guest,
                    tmp_loop(host))
    assert out == {"cancel": True, "cancelled_at_once": (False, True),
                   "again": False,
                   "result": "-ECANCELED", "after": False,
                   "cancelled": True, "raised": "from a callback",
                   "op2": -125}


def gone_events(host, guest, drv, loopdev):
    """A driver domain dies: DEVICE_GONE for its devices, from the
    iterator; the one listed (not added here) too."""
    with _ctx() as ctx:
        dev = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                      script="ok", backend=drv),
                      wait_connected=True)
    with _ctx() as ctx:  # a manager that restarted: it lists
        listed = [i.id for i in ctx.list_devices(guest)]
        host.domain_destroy(drv)
        gone = [(ev.device, ev.backend_domain_alive)
                for ev in ctx.events(timeout=10)
                if ev.type == xdev.EventType.DEVICE_GONE]
        # the device is gone from the store and from the listing
        return dev, listed, gone, ctx.list_devices(guest)


@needs_root
def test_device_gone_when_the_driver_domain_dies(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    drv = host.domain_create("drv", "driver")
    host.start_xdevd(drv, TEST_SCRIPTS)
    dev, listed, gone, after = host.call(gone_events, host, guest, drv,
                                         tmp_loop(host))
    assert listed == [dev] and gone == [(dev, False)] and after == []


def removed_by_the_cli(host, guest, loopdev, record, xdev_cli):
    """A manager's context adds a disk and keeps running; an operator's
    `xdev block-detach` removes it."""
    os.environ["XDEV_TEST_RECORD"] = record
    with _ctx() as ctx:
        dev = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                      script="ok"), wait_connected=True)
        cli = subprocess.run(
            [xdev_cli, "block-detach", "--hotplug-dir", TEST_SCRIPTS, str(guest),
             "xvdb"], capture_output=True, text=True)
        gone = []
        for ev in ctx.events(timeout=20):
            if ev.type == xdev.EventType.DEVICE_GONE:
                gone.append(ev.device)
                break
        ctx.run(0.2)  # a second remove script would have started
        return dev, cli.returncode, cli.stderr, gone


@needs_root
def test_a_cli_removal_beside_a_context_runs_the_script_once(xdev_sim_host,
                                                            tmp_loop,
                                                            tmp_path):
    """Before, the context that added the device ran its remove script a
    second time when it saw the backend vanish: an iSCSI logout twice."""
    host = xdev_sim_host
    guest = host.domain_create("guest")
    record = str(tmp_path / "record")
    before = host.snapshot()
    dev, code, err, gone = host.call(removed_by_the_cli, host, guest,
                                     tmp_loop(host), record,
                                     os.path.join(BUILDDIR, "bin", "xdev"))
    assert code == 0, err
    assert gone == [dev]
    with open(record) as f:
        lines = f.read().splitlines()
    assert [line.split()[0] for line in lines] == ["add", "remove"], lines
    assert_store_back(before, host.snapshot())


def recover_in_host(host, guest, loopdev):
    """A device whose add's actor died: its record names a process that
    cannot run (a pid beyond Linux's largest pid_max, 2^22), as dom0's
    toolstack would find it after a kill -9."""
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip()
    with _ctx() as ctx:
        dev = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                      script="ok"), wait_connected=True)
        rec = f"/xdev/{guest}/vbd/{dev.devid}"
        host.cmd("xenstore-write", f"{rec}/owner",
                 f"add {boot}/1073741823/1/0000abcd")
        host.cmd("xenstore-write", f"{rec}/add-script", "started")
        listed = [(i.operation, i.owner_alive, i.owner_pid)
                  for i in ctx.list_devices(guest)]
        dry = ctx.recover(guest, dry_run=True)
        done = ctx.recover()
        return (dev, listed, dry, done, ctx.list_devices(guest),
                ctx.recover())


@needs_root
def test_recover_rolls_back_a_dead_actors_add(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    dev, listed, dry, done, after, again = host.call(
        recover_in_host, host, guest, tmp_loop(host))
    assert listed == [("add", False, 1073741823)]
    assert dry == [xdev.Recovered(dev, "add", 1073741823, None, "")]
    assert [(r.device, r.interrupted, r.result) for r in done] == \
        [(dev, "add", 0)]
    assert after == [] and again == []
    assert_store_back(before, host.snapshot())


def removed_elsewhere(host, guest, loopdev):
    """A manager lists; another removes the device: DEVICE_GONE, its
    backend domain alive."""
    with _ctx() as ctx:
        dev = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                      script="ok"), wait_connected=True)
    with _ctx() as lister, _ctx() as remover:
        assert [i.id for i in lister.list_devices(guest)] == [dev]
        remover.remove(dev)
        gone = [(ev.device, ev.backend_domain_alive)
                for ev in lister.events(timeout=10)
                if ev.type == xdev.EventType.DEVICE_GONE]
        return dev, gone, lister.list_devices(guest)


@needs_root
def test_device_gone_of_a_device_removed_elsewhere(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    dev, gone, after = host.call(removed_elsewhere, host, guest,
                                 tmp_loop(host))
    assert gone == [(dev, True)] and after == []


def logging_body(host, guest, loopdev):
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append((record.levelname,
                                                record.getMessage()))
    logger = logging.getLogger("xdev")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    calls = []
    with _ctx(log=lambda level, msg: calls.append(level),
              log_level=xdev.LogLevel.DEBUG) as ctx:
        ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev, script="ok"))
    with _ctx(log=True, log_level=xdev.LogLevel.INFO) as ctx:
        ctx.remove(xdev.DeviceId(xdev.DeviceType.VBD, 0, guest, 51728))
        try:  # a failure is logged at INFO
            ctx.add(guest, xdev.Vbd(vdev="xvdc", target=loopdev,
                                    script="fail"))
        except xdev.HotplugFailed:
            pass
    return calls, lines


@needs_root
def test_log_to_a_callable_or_the_logging_module(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    calls, lines = host.call(logging_body, host, guest, tmp_loop(host))
    assert xdev.LogLevel.DEBUG in calls
    assert lines and all(lv in ("INFO", "WARNING", "ERROR")
                         for lv, _ in lines)


def queued_in_host(host, guest, loopdev):
    """max_ops_per_backend=1: the second add waits, unbegun, behind the
    first (held at InitWait by an unresponsive backend)."""
    said = []
    host.fault(0, "backend-unresponsive")
    with _ctx(max_ops_per_backend=1, log=lambda lv, m: said.append(m),
              log_level=xdev.LogLevel.DEBUG) as ctx:
        ops = [ctx.add_async(guest, xdev.Vbd(vdev=v, target=loopdev,
                                             script="ok"))
               for v in ("xvdb", "xvdc")]
        end = time.monotonic() + 10
        while not any("waits for one of 1 operation slots" in m
                      for m in said) and time.monotonic() < end:
            ctx.run(0.02)
        written = [host.exists(op.device.backend_path) for op in ops]
        for op in ops:
            op.cancel()
        for op in ops:
            op.wait(10)
        codes = [op.code for op in ops]
    host.fault_clear(0)
    return written, codes, [m for m in said if "operation slots" in m]


@needs_root
def test_max_ops_per_backend_queues_the_rest(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    written, codes, said = host.call(queued_in_host, host, guest,
                                     tmp_loop(host))
    assert written == [True, False]
    assert said and "backend domain 0" in said[0]
    assert codes == [-125, -125]  # both cancelled, the queued one unbegun
    assert_store_back(before, host.snapshot())


@pytest.mark.parametrize("bad", [0, -1, True, "8", 2.5])
def test_max_ops_per_backend_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="max_ops_per_backend: a positive "
                       "integer"):
        xdev.Context(max_ops_per_backend=bad)


def real_scripts(host, guest, image, native):
    """Library mode with the real block script (NATIVE False) or native
    hotplug: a loop device while the disk is attached, none after; and
    what the listing says did it."""
    with _ctx(hotplug_dir=REAL_SCRIPTS, native=native,
              hotplug_state_dir=os.path.join(host.dir, "lock")) as ctx:
        dev = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=image),
                      wait_connected=True)
        during = host.loops()
        kind = [d.hotplug for d in ctx.list_devices(guest)]
        ctx.remove(dev, "safe")
        return during, host.loops(), kind


@needs_root
@pytest.mark.parametrize("native", [False, True], ids=["script", "native"])
def test_real_block_script_attaches_and_releases_a_loop(xdev_sim_host,
                                                        native):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    image = os.path.join(host.dir, "real.img")
    with open(image, "wb") as f:
        f.truncate(2 << 20)
    during, after, kind = host.call(real_scripts, host, guest, image, native)
    assert len(during) == 1 and after == []
    assert kind == ["native" if native else "script"]


def test_native_must_be_a_bool():
    with pytest.raises(TypeError, match="native: True or False"):
        xdev.Context(native="never")


def empty_parents(host, guest, loopdev):
    with _ctx() as ctx:
        dev = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                      script="ok"))
        ctx.remove(dev)


@needs_root
def test_removal_leaves_no_empty_parent_directories(xdev_sim_hosts,
                                                    tmp_loop):
    host = xdev_sim_hosts("c")
    guest = host.domain_create("guest")
    before = host.snapshot()
    host.call(empty_parents, host, guest, tmp_loop(host))
    assert_store_back(before, host.snapshot(), strict=True)


# ---- helpers --------------------------------------------------------------

@pytest.fixture
def tmp_loop():
    """tmp_loop(host): a loop device on an image in the host's directory,
    detached at the end (the host's stop checks that none is left)."""
    attached = []

    def make(host):
        image = os.path.join(host.dir, f"loop{len(attached)}.img")
        with open(image, "wb") as f:
            f.truncate(4 << 20)
        dev = subprocess.run(["losetup", "--find", "--show", image],
                             capture_output=True, text=True,
                             check=True).stdout.strip()
        attached.append(dev)
        return dev

    yield make
    for dev in attached:
        subprocess.run(["losetup", "-d", dev], check=False)


@needs_root
def test_the_host_check_sees_a_loop_device_left_on_the_test_s_image(
        tmp_path):
    """SimHost.stop(image_dirs), which the pytest fixtures call with the
    test's tmp_path, fails on a loop device left on an image there (it
    looked in the host's own directory only)."""
    from xdev.testing import SimHost
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(4 << 20)
    host = SimHost("c")
    dev = subprocess.run(["losetup", "--find", "--show", str(image)],
                         capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        with pytest.raises(AssertionError, match="loop devices left"):
            host.stop(image_dirs=(str(tmp_path),))
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)
    assert not os.path.exists(host.dir)


def assert_store_back(before, after, strict=False):
    from test_lifecycle import assert_same_store
    assert_same_store(before, after, strict)



def deleted_under_xdevd(host, guest, drv, loopdev):
    with _ctx() as ctx:
        dev = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                      script="ok", backend=drv),
                      wait_connected=True)
        host.fault(drv, "backend-delete-on-close")
        ctx.remove(dev, "safe")


@needs_root
def test_xdevd_removes_with_the_script_it_added_with(xdev_sim_hosts,
                                                     tmp_loop):
    """A backend deleted under xdevd (the `script` node went with the
    directory) is released by the script that added it, not the type's
    default."""
    host = xdev_sim_hosts("c")
    guest = host.domain_create("guest")
    drv = host.domain_create("drv", "driver")
    record = os.path.join(host.dir, "record")
    x = host.start_xdevd(drv, TEST_SCRIPTS, env={"XDEV_TEST_RECORD": record})
    host.call(deleted_under_xdevd, host, guest, drv, tmp_loop(host))
    # the removal ends when the backend vanishes; xdevd's remove script
    # runs after that: wait for its record line (a condition, bounded)
    deadline = time.monotonic() + 30
    actions = []
    while time.monotonic() < deadline:
        with open(record) as f:
            actions = [ln.split()[0] for ln in f.read().splitlines()]
        if len(actions) >= 2:
            break
        time.sleep(0.05)
    host.stop_xdevds()
    assert actions == ["add", "remove"], x.said()
