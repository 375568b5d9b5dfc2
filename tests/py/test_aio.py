"""xdev.aio: the binding on asyncio's loop, against the simulated host.

Each body runs inside the host (SimHost.call, as in test_binding.py)
under asyncio.run; the context's fd and timer are on that loop, nothing
drives a private loop.  Blocking reads of the store from a body are
made while no operation is pending, or through the loop's executor.
"""
import asyncio
import time

import pytest

import xdev
import xdev.aio
from test_binding import (TEST_SCRIPTS, assert_store_back, needs_root,
                          tmp_loop)  # noqa: F401 - tmp_loop: a fixture
from xdev.pytest_plugin import xdev_sim_host, xdev_sim_hosts  # noqa: F401

VIF, VBD = xdev.DeviceType.VIF, xdev.DeviceType.VBD
OP_DONE, GONE = xdev.EventType.OP_DONE, xdev.EventType.DEVICE_GONE


def _actx(**kw):
    kw.setdefault("hotplug_dir", TEST_SCRIPTS)
    kw.setdefault("timeout_remove", 2)
    return xdev.aio.AsyncContext(**kw)


def _vif(n):
    return xdev.Vif(script="ok", mac=f"00:16:3e:00:00:{n:02x}")


def _paths(dev):
    return (dev.frontend_path, dev.backend_path, dev.record_path)


async def _blocking(fn, *args):
    """FN(*ARGS) (a store read that waits) off the loop, which runs on."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# ---- without a host ------------------------------------------------------------

def test_an_async_context_needs_a_loop_and_has_no_context_queue():
    with pytest.raises(RuntimeError, match="no running event loop"):
        xdev.aio.AsyncContext()

    async def with_queue():
        xdev.aio.AsyncContext(queue_events=True)
    with pytest.raises(TypeError, match="queue_events"):
        asyncio.run(with_queue())


# ---- inside a host: the bodies ---------------------------------------------------

def concurrent_adds(host, guest, loopdev):
    """A disk and three NICs added at once with asyncio.gather, then
    removed at once."""
    async def main():
        async with _actx() as actx:
            descs = [xdev.Vbd(vdev="xvdb", target=loopdev, script="ok")] + \
                [_vif(n) for n in (1, 2, 3)]
            adds = asyncio.gather(*(actx.add(guest, d, wait_connected=True)
                                    for d in descs))
            await asyncio.sleep(0)  # a yield: the tasks start their adds
            at_once = len(actx.context.pending)
            devs = await adds
            states = [host.read(d.backend_path + "/state") for d in devs]
            recorded = [host.exists(d.record_path) for d in devs]
            await asyncio.gather(*(actx.remove(d, "safe") for d in devs))
            left = [host.exists(p) for d in devs for p in _paths(d)]
            return devs, at_once, states, recorded, left, \
                actx.context.pending
    return asyncio.run(main())


@needs_root
def test_concurrent_adds_with_gather(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    devs, at_once, states, recorded, left, pending = host.call(
        concurrent_adds, host, guest, tmp_loop(host))
    assert devs == [xdev.DeviceId(VBD, 0, guest, 51728)] + \
        [xdev.DeviceId(VIF, 0, guest, n) for n in (0, 1, 2)]
    assert at_once == 4          # all four under way together
    assert states == ["4"] * 4   # each awaited until Connected
    assert recorded == [True] * 4
    assert left == [False] * 12 and pending == []
    assert_store_back(before, host.snapshot())


def callback_error(host, guest):
    """An exception from on_event goes to the loop's exception handler;
    the operation goes on."""
    async def main():
        handled = []
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: handled.append(context["exception"]))

        def on_event(ev):
            if ev.type == OP_DONE:
                raise ValueError("from on_event")
        async with _actx(on_event=on_event) as actx:
            nic = await actx.add(guest, _vif(1))
            await actx.remove(nic, "force")
        return [str(e) for e in handled]
    return asyncio.run(main())


@needs_root
def test_an_exception_in_a_callback_goes_to_the_loop(xdev_sim_host):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    assert host.call(callback_error, host, guest) == ["from on_event"] * 2
    assert_store_back(before, host.snapshot())


def cancelled_by_the_task(host, guest, loopdev):
    """An add whose backend never answers, its task cancelled: the
    library's cancel undoes it before the task's CancelledError."""
    dev = xdev.DeviceId(VBD, 0, guest, 51728)

    async def main():
        out = {}
        async with _actx(timeout_init=60) as actx:
            async def add():
                try:
                    return await actx.add(guest, xdev.Vbd(
                        vdev="xvdb", target=loopdev, script="ok"))
                except asyncio.CancelledError as e:
                    out["message"] = str(e)
                    out["left"] = [host.exists(p) for p in _paths(dev)]
                    raise

            host.fault(0, "backend-unresponsive")
            task = asyncio.create_task(add())
            # under way once its transaction wrote the frontend
            out["written"] = await _blocking(
                host.wait, dev.frontend_path + "/state", "1", 20)
            start = time.monotonic()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                out["cancelled"] = task.cancelled()
            out["seconds"] = time.monotonic() - start
            out["pending"] = actx.context.pending
            host.fault_clear(0)
        return out
    return asyncio.run(main())


@needs_root
def test_cancelling_the_task_cancels_the_operation(xdev_sim_host, tmp_loop):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    out = host.call(cancelled_by_the_task, host, guest, tmp_loop(host))
    assert out["written"] and out["cancelled"]
    # the library's -ECANCELED, well before the add's own 60 s timeout
    assert out["message"] == (f"xdev: add of vbd/51728@{guest}(backend 0) "
                              "cancelled: what it wrote is removed"), out
    assert out["seconds"] < 30
    # by the time the task saw its CancelledError the add was undone
    assert out["left"] == [False] * 3 and out["pending"] == []
    assert_store_back(before, host.snapshot())


def removal_modes(host, guest):
    """Three NICs whose guest ignores Closing, removed at once with SAFE,
    AUTO and FORCE: SAFE times out and restores, AUTO forces past its
    timeout, FORCE does not wait."""
    async def main():
        async with _actx(timeout_remove=1) as actx:
            safe, auto, force = await asyncio.gather(
                *(actx.add(guest, _vif(n), wait_connected=True)
                  for n in (1, 2, 3)))
            host.fault(guest, "frontend-unresponsive")
            results = await asyncio.gather(
                actx.remove(safe, "safe"), actx.remove(auto, "auto"),
                actx.remove(force, xdev.RemoveMode.FORCE),
                return_exceptions=True)
            there = [host.exists(d.backend_path) for d in (safe, auto, force)]
            restored = (host.read(safe.backend_path + "/online"),
                        host.read(safe.backend_path + "/state"))
            host.fault_clear(guest)
            await actx.remove(safe, "safe")  # the guest answers again
            left = [host.exists(p) for d in (safe, auto, force)
                    for p in _paths(d)]
            return [type(r).__name__ for r in results], \
                getattr(results[0], "name", None), there, restored, left
    return asyncio.run(main())


@needs_root
def test_each_removal_mode(xdev_sim_host):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    kinds, name, there, restored, left = host.call(removal_modes, host,
                                                   guest)
    assert kinds == ["XdevTimeout", "NoneType", "NoneType"]
    assert name == "-ETIMEDOUT"
    assert there == [True, False, False]
    assert restored == ("1", "4")   # online again, Connected
    assert left == [False] * 9
    assert_store_back(before, host.snapshot())


def gone_from_the_iterator(host, guest):
    """Events from `async for`: the add's, then DEVICE_GONE when another
    manager (a context in another thread) removes the device."""
    def remove_elsewhere(dev):
        with xdev.Context(hotplug_dir=TEST_SCRIPTS) as other:
            other.remove(dev)

    async def main():
        async with _actx() as actx:
            events = actx.events()
            nic = await actx.add(guest, _vif(1), wait_connected=True)
            await _blocking(remove_elsewhere, nic)
            seen = []
            async with asyncio.timeout(20):
                async for ev in events:
                    seen.append((ev.type, ev.device))
                    if ev.type == GONE:
                        alive = ev.backend_domain_alive
                        break
            later = actx.events()   # from now on only
            nic2 = await actx.add(guest, _vif(2))
            await actx.remove(nic2)
            done = [ev async for ev in _until(later, OP_DONE, 2)]
            left = [host.exists(p) for d in (nic, nic2) for p in _paths(d)]
            return nic, nic2, seen, alive, done, left, events.dropped
    return asyncio.run(main())


async def _until(stream, kind, count):
    """The types of STREAM's events until the COUNT-th of KIND."""
    async with asyncio.timeout(20):
        async for ev in stream:
            yield ev.device, ev.type
            count -= ev.type == kind
            if not count:
                return


@needs_root
def test_an_event_from_the_iterator(xdev_sim_host):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    nic, nic2, seen, alive, done, left, dropped = host.call(
        gone_from_the_iterator, host, guest)
    assert (OP_DONE, nic) in seen and seen[-1] == (GONE, nic)
    assert seen.index((OP_DONE, nic)) < len(seen) - 1
    assert alive is True          # removed, its domain alive
    # a stream has what came after it was made: the second NIC's add
    # and removal, not the first one's DEVICE_GONE
    types = [t for _, t in done]
    assert {d for d, _ in done} == {nic2}
    assert GONE not in types and types.count(OP_DONE) == 2
    assert left == [False] * 6 and dropped == 0
    assert_store_back(before, host.snapshot())


def closing(host, guest):
    """aclose() with two adds pending: they end Cancelled, new ones are
    refused, the stream ends, the fd and the timer leave the loop.  Then
    close(), blocking, with one pending."""
    async def main():
        loop = asyncio.get_running_loop()
        host.fault(0, "backend-unresponsive")
        actx = _actx(timeout_init=60)
        fds = set(actx._fds)
        events = actx.events()
        tasks = [asyncio.create_task(actx.add(guest, _vif(n)))
                 for n in (1, 2)]
        await asyncio.sleep(0)  # a yield: the tasks start their adds
        devs = [op.device for op in actx.context.pending]
        close = asyncio.create_task(actx.aclose())
        await asyncio.sleep(0)  # a yield: aclose begins (xdev_ctx_close)
        try:
            await actx.add(guest, _vif(3))
        except xdev.XdevError as e:
            refused_while = e.name
        await close
        results = await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await actx.add(guest, _vif(3))
        except ValueError as e:
            refused_after = str(e)
        await actx.aclose()  # again: nothing
        streamed = [ev.type async for ev in events]  # ends
        # close(): at once, the library finishing inside the call
        other = _actx(timeout_init=60)
        task = asyncio.create_task(other.add(guest, _vif(4)))
        await asyncio.sleep(0)  # a yield: the task starts its add
        dev4 = other.context.pending[0].device
        other.close()
        blocking = await asyncio.gather(task, return_exceptions=True)
        devs.append(dev4)
        host.fault_clear(0)
        return {
            "devs": len(devs), "closed": actx.closed,
            "results": [type(r).__name__ for r in results],
            "blocking_close": [type(r).__name__ for r in blocking],
            "refused": (refused_while, refused_after),
            "streamed_end": streamed.count(OP_DONE),
            "readers": [loop.remove_reader(fd) for fd in fds],
            "fds": len(fds), "timer": actx._timer,
            "attached": dict(xdev.aio._attached),
            "left": [host.exists(p) for d in devs for p in _paths(d)]}
    return asyncio.run(main())


@needs_root
def test_closing_cancels_and_detaches(xdev_sim_host):
    host = xdev_sim_host
    guest = host.domain_create("guest")
    before = host.snapshot()
    out = host.call(closing, host, guest)
    assert out == {"devs": 3, "closed": True,
                   "results": ["Cancelled", "Cancelled"],
                   "blocking_close": ["Cancelled"],
                   "refused": ("-ESHUTDOWN", "the context is closed"),
                   "streamed_end": 2, "readers": [False], "fds": 1,
                   "timer": None, "attached": {}, "left": [False] * 9}
    assert_store_back(before, host.snapshot())
