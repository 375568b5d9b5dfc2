"""xdev.aio: the binding on asyncio's event loop (docs/python.md).

    import asyncio
    import xdev
    import xdev.aio

    async def main():
        async with xdev.aio.AsyncContext(timeout_remove=5) as actx:
            disk, nic = await asyncio.gather(
                actx.add(3, xdev.Vbd(vdev="xvdb", target="/dev/vg/data")),
                actx.add(3, xdev.Vif(bridge="xenbr0")))
            await actx.remove(disk, mode="safe")

How.  The context is created with xdev_loop_hooks (xdev.h) whose functions
put its fd on the running loop (loop.add_reader) and its one timer
(loop.call_later); the loop calls back xdev_ctx_fd_ready() and
xdev_ctx_timeout().  Operations are the binding's asynchronous ones
(Context.add_async, remove_async): their completion callbacks resolve
asyncio futures.  Cancelling the task that awaits an operation cancels
the operation (xdev_op_cancel) and waits for it to end, so that when the
task's CancelledError comes, the store is as the cancel left it.

Like the library, an AsyncContext belongs to one thread: its loop's.
"""
import asyncio
import collections
import errno
import itertools

from . import _native
from ._native import lib
from .context import EVENTS_QUEUE_MAX, Context
from .types import RemoveMode

__all__ = ["AsyncContext", "EventStream"]

_tokens = itertools.count(1)
_attached = {}   # token -> AsyncContext, while its C context may call hooks


# ---- the hooks' trampolines ----------------------------------------------------
# Module-level, so they outlive every context; an exception never goes
# through C: it is kept and reported on the loop (AsyncContext._report).

@_native.FD_REGISTER_FN
def _fd_register(user, fd, events, fd_user):
    actx = _attached.get(user or 0)
    if actx is None:
        return -errno.EINVAL
    try:
        actx._watch(fd)
    except BaseException as e:  # noqa: B902 - never through C
        actx._errors.append(e)
        return -errno.EIO
    return 0


@_native.FD_DEREGISTER_FN
def _fd_deregister(user, fd, fd_user):
    actx = _attached.get(user or 0)
    if actx is not None:
        actx._unwatch(fd)


@_native.TIMER_SET_FN
def _timer_set(user, ms):
    actx = _attached.get(user or 0)
    if actx is not None:
        actx._set_timer(ms)


# ---- events ------------------------------------------------------------------

class EventStream:
    """The events of an AsyncContext from the moment events() was called:
    `async for ev in stream`.  At most MAXLEN are kept unread, the oldest
    dropped first and counted in `dropped`.  The iteration ends when the
    stream or its context is closed."""

    def __init__(self, actx, maxlen):
        self._actx = actx
        self._queue = collections.deque(maxlen=maxlen)
        self._waiter = None
        self.dropped = 0
        self.closed = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = self._actx._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def close(self):
        """Stop receiving events; what is queued is still read."""
        self.closed = True
        self._actx._streams.discard(self)
        self._wake()

    def _push(self, ev):
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(ev)
        self._wake()

    def _wake(self):
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


# ---- the context -------------------------------------------------------------

class AsyncContext:
    """An xdev context on an asyncio loop (LOOP; default: the running one,
    so create it inside a coroutine).  OPTS are Context's (timeouts,
    hotplug, hotplug_dir, on_event, log, ...), except queue_events: each
    events() stream has its own queue.

    Use `async with`, or call aclose(): the context holds its fd on the
    loop until then.
    """

    def __init__(self, *, loop=None, **opts):
        if "queue_events" in opts:
            raise TypeError("AsyncContext has no queue_events: each "
                            "events() stream keeps its own")
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._token = next(_tokens)
        self._fds = set()
        self._timer = None
        self._timer_ms = -1
        self._errors = []
        self._streams = set()
        self._closing = None
        self._user_on_event = opts.pop("on_event", None)
        hooks = _native.LoopHooksC(_fd_register, _fd_deregister, _timer_set,
                                   self._token)
        _attached[self._token] = self
        try:
            self._ctx = Context(loop_hooks=hooks, on_event=self._event,
                                queue_events=False, **opts)
        except BaseException as e:
            self._detach()
            if self._errors:  # a hook failed: that is the cause
                raise e from self._errors.pop()
            raise

    # -- the hooks' work -----------------------------------------------------

    def _watch(self, fd):
        self._loop.add_reader(fd, self._ready, fd)
        self._fds.add(fd)

    def _unwatch(self, fd):
        self._fds.discard(fd)
        if not self._loop.is_closed():
            self._loop.remove_reader(fd)

    def _set_timer(self, ms):
        self._timer_ms = ms
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if ms >= 0 and not self._loop.is_closed():
            self._timer = self._loop.call_later(ms / 1000, self._fire)

    def _ready(self, fd):
        ctx = self._ctx
        if ctx._ptr is None:
            return
        with ctx._lock:
            lib.xdev_ctx_fd_ready(ctx._ptr, fd, _native.XDEV_POLL_IN)
        self._after()

    def _fire(self):
        self._timer = None
        ctx = self._ctx
        if ctx._ptr is None:
            return
        # one-shot: fired, it is not armed any more; the library arms it
        # again inside the call if it has something due (it forgets a
        # fired timer, lib/loop-hooks.c)
        self._timer_ms = -1
        with ctx._lock:
            lib.xdev_ctx_timeout(ctx._ptr)
        self._after()

    def _after(self):
        """After the loop drove the library: report what callbacks
        raised, and see whether a close has finished."""
        try:
            self._ctx._check()
        except BaseException as e:  # noqa: B902 - the loop's handler says
            self._report(e)
        while self._errors:
            self._report(self._errors.pop(0))
        closing = self._closing
        if closing is None or closing.done():
            return
        ptr = self._ctx._ptr   # None: closed at once from a callback
        if ptr is None or lib.xdev_ctx_pending(ptr) == 0:
            closing.set_result(None)

    def _report(self, e):
        self._loop.call_exception_handler({
            "message": "xdev.aio: an exception in a callback",
            "exception": e})

    def _event(self, ev):
        for stream in list(self._streams):
            stream._push(ev)
        if self._user_on_event is not None:
            self._user_on_event(ev)

    # -- operations ----------------------------------------------------------

    async def add(self, domid, desc, *, wait_connected=False, **timeouts):
        """Add DESC (a Vbd or Vif) to domain DOMID; returns its DeviceId
        or raises its XdevError (-ESHUTDOWN once aclose() began).  As
        Context.add, and cancellable."""
        fut = self._loop.create_future()
        op = self._ctx.add_async(domid, desc, wait_connected=wait_connected,
                                 callback=_resolver(fut), **timeouts)
        return await self._outcome(op, fut)

    async def remove(self, device, mode=RemoveMode.AUTO, **timeouts):
        """Remove DEVICE (a DeviceId or DeviceInfo): MODE "auto", "safe"
        or "force" (or a RemoveMode).  As Context.remove, and
        cancellable."""
        fut = self._loop.create_future()
        op = self._ctx.remove_async(device, mode, callback=_resolver(fut),
                                    **timeouts)
        return await self._outcome(op, fut)

    async def _outcome(self, op, fut):
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            op.cancel()
            await _settle(fut)
            raise asyncio.CancelledError(_cancelled_how(op)) from None
        return op.result(0)   # done: raises its XdevError, if any

    def list_devices(self, domid):
        """Context.list_devices (synchronous: one store read)."""
        return self._ctx.list_devices(domid)

    def unmonitor(self, device):
        """Context.unmonitor."""
        self._ctx.unmonitor(device)

    @property
    def context(self):
        """The Context underneath, for its attributes (last_message,
        pending).  Its run(), wait() and waiting Operation calls are not
        for a context on asyncio's loop."""
        return self._ctx

    # -- events ----------------------------------------------------------------

    def events(self, maxlen=EVENTS_QUEUE_MAX):
        """A new EventStream: every event from now on, until the stream
        or the context is closed (`async for ev in actx.events()`)."""
        if self._closing is not None or self._ctx.closed:
            raise ValueError("the context is closed")
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or \
                maxlen < 1:
            raise ValueError(f"maxlen: a positive integer, not {maxlen!r}")
        stream = EventStream(self, maxlen)
        self._streams.add(stream)
        return stream

    # -- the end ---------------------------------------------------------------

    async def aclose(self):
        """Close without blocking the loop: every pending operation is
        cancelled (their awaiting tasks get their outcome: Cancelled, or
        their own result past the point of no return), new ones are
        refused, and once the library has nothing pending the context is
        freed and its fd and timer leave the loop.  Event streams end.
        Idempotent."""
        if self._ctx.closed:
            self._detach()   # closed underneath (Context.close): let go
            return
        if self._closing is None:
            self._closing = self._loop.create_future()
            self._ctx.begin_close()
            self._after()   # nothing pending: done at once
        await asyncio.shield(self._closing)
        self._free()

    def close(self):
        """Close at once, blocking the loop while the library finishes
        what is pending (xdev_ctx_free): for a loop that is stopping.
        Idempotent."""
        self._free()

    def _free(self):
        self._ctx.close()   # its hooks take the fd and the timer back
        self._detach()

    def _detach(self):
        for fd in list(self._fds):
            self._unwatch(fd)
        self._set_timer(-1)
        _attached.pop(self._token, None)
        for stream in list(self._streams):
            stream.close()

    @property
    def closed(self):
        return self._ctx.closed

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()


def _resolver(fut):
    """An Operation's done callback that wakes FUT (the Operation holds
    the outcome).  Called from the loop's callbacks, or inside close()."""
    def done(op):
        if not fut.done() and not fut.get_loop().is_closed():
            fut.set_result(None)
    return done


async def _settle(fut):
    """Wait for a cancelled operation's end, however often the waiting
    task is cancelled again: the library ends every operation, within its
    timeouts."""
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            pass


_UNDONE = {"add": "what it wrote is removed",
           "remove": "the device is left as it was"}


def _cancelled_how(op):
    """The CancelledError's message: what the cancel did."""
    what = f"xdev: {op.kind} of {op.device}"
    if op.cancelled():
        return f"{what} cancelled: {_UNDONE[op.kind]}"
    if op.code == 0:
        return f"{what} cancelled too late: it finished"
    detail = f": {op.message}" if op.message else ""
    return (f"{what} cancelled, and failed: "
            f"{_native.text(lib.xdev_strerror(op.code))}{detail}")
