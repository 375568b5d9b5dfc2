"""Context and Operation: libxdev's context and operations, the Python way.

Lifetimes.  The C callbacks are three module-level ctypes trampolines that
live as long as the module; what they reach is found through an integer
token passed as the C `user` pointer, in the registries below.  An
operation stays registered (so its Python objects stay alive) until the
library has called its completion callback, which it does exactly once -
also when the context is closed with the operation pending (-ECANCELED,
inside xdev_ctx_free).  So the library never calls into freed Python
memory, and no C pointer outlives its owner here.

Exceptions raised by application callbacks (on_event, done callbacks) are
never thrown through C: they are kept and raised by the Python call that
drove the loop (run(), a synchronous call, result(), close()).
"""
import collections
import ctypes
import errno
import itertools
import logging
import math
import threading
import time

from . import _native
from ._native import lib
from .errors import Cancelled, InvalidArgument, error_for
from .types import (DeviceId, DeviceInfo, DeviceType, Event, EventType,
                    Hotplug, LogLevel, Recovered, RemoveMode, _state)

_tokens = itertools.count(1)
_contexts = {}   # token -> Context, while the C context exists
_ops = {}        # token -> Operation, until its completion callback ran


def _device(c):
    return DeviceId(DeviceType(c.type), c.backend_domid, c.frontend_domid,
                    c.devid)


def _c_device(device):
    dev = getattr(device, "id", device)  # a DeviceInfo is accepted too
    if not isinstance(dev, DeviceId):
        raise TypeError(f"not a device: {device!r}")
    return _native.DeviceIdC(int(dev.type), dev.backend_domid,
                             dev.frontend_domid, dev.devid)


def _mode(mode):
    if isinstance(mode, str):
        try:
            return RemoveMode[mode.upper()]
        except KeyError:
            raise ValueError(f"unknown remove mode {mode!r} "
                             "(auto, safe, force)") from None
    return RemoveMode(mode)


def _ms(seconds, what):
    """Seconds as the library's milliseconds; None: the default (0)."""
    if seconds is None:
        return 0
    if seconds <= 0:
        raise ValueError(f"{what} must be positive, not {seconds!r}")
    return max(1, math.ceil(seconds * 1000))


def _positive(n, what):
    """A count option; None: the default (0)."""
    if n is None:
        return 0
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what}: a positive integer, not {n!r}")
    return n


_HOW_TIMEOUTS = {"add": ("timeout_init", "timeout_hotplug", "timeout_connect"),
                 "remove": ("timeout_remove", "timeout_hotplug")}


def _how(cb, token, timeouts, kind=None):
    """An xdev_op_how: CB (None: synchronous) and this operation's
    TIMEOUTS (seconds; None or absent: the context's)."""
    allowed = _HOW_TIMEOUTS.get(kind, _HOW_TIMEOUTS["add"] +
                                ("timeout_remove",))
    for name in timeouts:
        if name not in allowed:
            raise TypeError(f"unknown keyword argument {name!r} (timeouts: "
                            f"{', '.join(allowed)})")
    how = _native.OpHowC()
    if cb is not None:
        how.cb = cb
        how.user = token
    for name, seconds in timeouts.items():
        setattr(how, name + "_ms", _ms(seconds, name))
    return how


_OPS = {1: "add", 2: "remove"}   # enum xdev_op_kind
_HOTPLUG_KINDS = {1: "none", 2: "script", 3: "native"}  # xdev_hotplug_kind


# ---- the trampolines -------------------------------------------------------

@_native.OP_FN
def _on_op_done(op_ptr, result, user):
    op = _ops.pop(user or 0, None)
    if op is None:
        return
    try:
        op._finish(result, _native.text(lib.xdev_op_message(op_ptr)))
    except BaseException as e:  # noqa: B902 - never through C
        op._ctx._keep_error(e)


@_native.EVENT_FN
def _on_event(user, ev_p):
    ctx = _contexts.get(user or 0)
    if ctx is None:
        return
    try:
        ev = ev_p.contents
        op = ctx._by_ptr.get(ev.op) if ev.op else None
        ctx._event(Event(EventType(ev.type), _device(ev.device),
                         ev.backend_state, ev.result, op,
                         bool(ev.backend_domain_alive)))
    except BaseException as e:  # noqa: B902
        ctx._keep_error(e)


@_native.LOG_FN
def _on_log(user, level, message):
    ctx = _contexts.get(user or 0)
    if ctx is None:
        return
    try:
        ctx._log(LogLevel(level), _native.text(message))
    except BaseException as e:  # noqa: B902
        ctx._keep_error(e)


# ---- operations -------------------------------------------------------------

class Operation:
    """A pending add or remove: a future-like handle.

    result() and exception() drive the context's loop until the operation
    is done; cancel() asks the library to cancel it (asynchronous: it
    completes later, with Cancelled, or with its own result if it was past
    the point of no return).
    """

    def __init__(self, ctx, kind, device):
        self._ctx = ctx
        self.kind = kind          # "add" or "remove"
        self.device = device      # DeviceId
        self.code = None          # the result code once done
        self.message = ""         # the library's message for the result
        self._ptr = None
        self._token = next(_tokens)
        self._callbacks = []
        self._cancel_asked = False

    def __repr__(self):
        state = "pending" if self.code is None else \
            f"done: {self.code}"
        return f"<xdev.Operation {self.kind} {self.device} {state}>"

    def done(self):
        return self.code is not None

    def cancelled(self):
        """True from a successful cancel() on, and once it completed with
        Cancelled; False again if it completed with its own result after
        all (a removal past its point of no return)."""
        if self.code is None:
            return self._cancel_asked
        return self.code == -errno.ECANCELED

    def cancel(self):
        """Ask for cancellation; True if asked, False if the operation is
        already done or completing."""
        if self.done() or self._ptr is None:
            return False
        with self._ctx._lock:
            asked = lib.xdev_op_cancel(self._ptr) == 0
        self._cancel_asked = self._cancel_asked or asked
        return asked

    def wait(self, timeout=None):
        """Drive the loop until done or TIMEOUT seconds; True if done."""
        return self._ctx.wait([self], timeout)

    def exception(self, timeout=None):
        """The XdevError the operation ended with, or None."""
        if not self.wait(timeout):
            raise TimeoutError(f"{self!r} still pending after {timeout} s")
        return error_for(self.code, self.message) if self.code else None

    def result(self, timeout=None):
        """The DeviceId (add) or None (remove); raises the operation's
        XdevError, or TimeoutError if it is still pending after TIMEOUT
        seconds."""
        err = self.exception(timeout)
        if err is not None:
            err.device = self.device
            raise err
        return self.device if self.kind == "add" else None

    def add_done_callback(self, fn):
        """Call fn(op) when done (at once if it is): from the loop, in
        whatever call drives it."""
        if self.done():
            fn(self)
        else:
            self._callbacks.append(fn)

    def _finish(self, code, message):
        self.code = code
        self.message = message
        ctx = self._ctx
        ctx._pending.pop(self._token, None)
        if self._ptr is not None:
            ctx._by_ptr.pop(self._ptr, None)
        self._ptr = None  # freed by the library when we return
        for fn in self._callbacks:
            try:
                fn(self)
            except BaseException as e:  # noqa: B902
                ctx._keep_error(e)
        self._callbacks = []


# ---- the context ------------------------------------------------------------

# The events a context keeps for events()/next_event() unless told
# otherwise: a program that never reads them must not grow without bound.
EVENTS_QUEUE_MAX = 1024


class Context:
    """An xdev context: adds and removes devices, reports events.

    Timeouts are in seconds (None: the library's default).  HOTPLUG is a
    Hotplug mode; HOTPLUG_DIR where scripts named without '/' are found.
    ON_EVENT is called with each Event; with QUEUE_EVENTS (the default)
    events are also queued for events()/next_event(): at most
    EVENTS_QUEUE_MAX of them (QUEUE_EVENTS may be a number instead), the
    oldest dropped first and counted in events_dropped.  LOG is a callable
    (level, message), a logging.Logger, or True for the "xdev" logger;
    LOG_LEVEL the most verbose level delivered.  MAX_SCRIPTS: hotplug
    scripts run at once in library mode (None: the library's default).
    MAX_OPS_PER_BACKEND: asynchronous operations in progress at once on
    one backend domain, the others queued, not yet begun (None: the
    library's default, 64).  NATIVE: native hotplug for descriptions that
    name no script (True, the default; False runs the scripts);
    HOTPLUG_STATE_DIR: its lock and loop records, shared with the block
    script (None: $XDEV_HOTPLUG_LOCK_DIR, else /run/xdev).  LOOP_HOOKS: an
    _native.LoopHooksC that puts the context on the application's loop
    (xdev.aio does, for asyncio); the context then has no private loop,
    and run(), wait() and the waiting calls of Operation are not for it.

    The context runs a private loop, driven by run(), by synchronous calls
    and by waiting on operations.  Not thread-safe in the library's sense:
    calls are serialised by a lock, so use one thread at a time.
    """

    def __init__(self, *, xenstore_path=None, timeout_init=None,
                 timeout_hotplug=None, timeout_connect=None,
                 timeout_remove=None, hotplug=Hotplug.LIBRARY,
                 hotplug_dir=None, on_event=None, queue_events=True,
                 log=None, log_level=LogLevel.INFO, max_scripts=None,
                 max_ops_per_backend=None, native=True,
                 hotplug_state_dir=None, loop_hooks=None):
        self._ptr = None
        self._lock = threading.RLock()
        self._token = next(_tokens)
        self._pending = {}   # token -> Operation
        self._by_ptr = {}    # xdev_op * -> Operation
        self._errors = []
        self._on_event = on_event
        if queue_events is True:
            queue_events = EVENTS_QUEUE_MAX
        if queue_events is not False and queue_events is not None and (
                isinstance(queue_events, bool) or
                not isinstance(queue_events, int) or queue_events < 1):
            raise ValueError("queue_events: True, False or a positive "
                             f"number of events, not {queue_events!r}")
        self.events_queue = (collections.deque(maxlen=queue_events)
                             if queue_events else None)
        self.events_dropped = 0
        if log is True:
            log = logging.getLogger("xdev")
        self._logger = log
        # kept alive as long as the C context: it keeps the pointers
        self._strings = [s.encode() if s is not None else None
                         for s in (xenstore_path, hotplug_dir,
                                   hotplug_state_dir)]
        opts = _native.CtxOptsC()
        opts.xenstore_path = self._strings[0]
        opts.hotplug_dir = self._strings[1]
        opts.hotplug_state_dir = self._strings[2]
        if not isinstance(native, bool):
            raise TypeError(f"native: True or False, not {native!r}")
        opts.native = 0 if native else 1
        opts.timeout_init_ms = _ms(timeout_init, "timeout_init")
        opts.timeout_hotplug_ms = _ms(timeout_hotplug, "timeout_hotplug")
        opts.timeout_connect_ms = _ms(timeout_connect, "timeout_connect")
        opts.timeout_remove_ms = _ms(timeout_remove, "timeout_remove")
        opts.hotplug = int(Hotplug(hotplug))
        opts.max_scripts = _positive(max_scripts, "max_scripts")
        opts.max_ops_per_backend = _positive(max_ops_per_backend,
                                             "max_ops_per_backend")
        opts.event_cb = _on_event
        opts.event_user = self._token
        if loop_hooks is not None:
            # copied by the library; its functions must outlive the context
            self._hooks = loop_hooks
            opts.hooks = ctypes.addressof(loop_hooks)
        if log is not None:
            opts.log_cb = _on_log
            opts.log_user = self._token
            opts.log_level = int(LogLevel(log_level))
        self._opts = opts
        ptr = ctypes.c_void_p()
        _contexts[self._token] = self
        r = lib.xdev_ctx_new(ctypes.byref(opts), ctypes.byref(ptr))
        if r:
            del _contexts[self._token]
            raise error_for(r)
        self._ptr = ptr.value
        self._check()

    # -- life ------------------------------------------------------------

    def close(self):
        """Free the context.  Pending operations complete first, with
        Cancelled (their callbacks run inside this call), and leave no
        nodes behind.  Idempotent."""
        with self._lock:
            if self._ptr is None:
                return
            ptr, self._ptr = self._ptr, None
            lib.xdev_ctx_free(ptr)
            # the library completed every operation; be sure of it
            for op in list(self._pending.values()):
                _ops.pop(op._token, None)
                op._finish(-errno.ECANCELED, "the context was closed")
            _contexts.pop(self._token, None)
            self._check()

    def begin_close(self):
        """Close without blocking: cancel every pending operation and
        refuse new ones (XdevError ESHUTDOWN); returns at once the number
        still pending (the library's own clean-ups included).  Keep
        driving the loop (run(), wait()) until they are done; close()
        then has nothing to wait for."""
        with self._lock:
            r = lib.xdev_ctx_close(self._live())
        self._check()
        return r

    @property
    def closed(self):
        return self._ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to report to
            pass

    def _live(self):
        if self._ptr is None:
            raise ValueError("the context is closed")
        return self._ptr

    # -- the loop --------------------------------------------------------

    def run(self, timeout=None):
        """One iteration of the loop, waiting at most TIMEOUT seconds
        (None: until something happens).  Returns the number of pending
        operations."""
        ms = -1 if timeout is None else max(0, math.ceil(timeout * 1000))
        with self._lock:
            n = lib.xdev_ctx_run(self._live(), ms)
        self._check()
        return n

    def wait(self, ops, timeout=None):
        """Drive the loop until every operation of OPS is done, or for at
        most TIMEOUT seconds; True if they all are."""
        ops = list(ops)
        end = None if timeout is None else time.monotonic() + timeout
        while not all(op.done() for op in ops):
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            # a bounded wait: an operation of another context never
            # wakes this one
            self.run(0.2 if left is None else min(left, 0.2))
        return True

    @property
    def pending(self):
        """The operations started here and not yet done."""
        return list(self._pending.values())

    # -- events ----------------------------------------------------------

    def next_event(self, timeout=None):
        """The next queued Event, driving the loop for at most TIMEOUT
        seconds (None: forever) while there is none; None at the timeout."""
        if self.events_queue is None:
            raise ValueError("the context does not queue events")
        end = None if timeout is None else time.monotonic() + timeout
        while not self.events_queue:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return None
            self.run(0.2 if left is None else min(left, 0.2))
        return self.events_queue.popleft()

    def events(self, timeout=None):
        """Iterate over events as they come, for TIMEOUT seconds in all
        (None: forever)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if end is None else max(0.0, end - time.monotonic())
            ev = self.next_event(left)
            if ev is None:
                return
            yield ev

    def _event(self, ev):
        q = self.events_queue
        if q is not None:
            if len(q) == q.maxlen:
                if not self.events_dropped:
                    self._log(LogLevel.WARNING, "the event queue is full "
                              f"({q.maxlen}): the oldest events are "
                              "dropped (read them with events(), or pass "
                              "queue_events=False)")
                self.events_dropped += 1
            q.append(ev)
        if self._on_event is not None:
            self._on_event(ev)

    def _log(self, level, message):
        if self._logger is None:
            return
        if isinstance(self._logger, logging.Logger):
            self._logger.log({LogLevel.ERROR: logging.ERROR,
                              LogLevel.WARNING: logging.WARNING,
                              LogLevel.INFO: logging.INFO,
                              LogLevel.DEBUG: logging.DEBUG}[level],
                             "%s", message)
        else:
            self._logger(level, message)

    def _keep_error(self, e):
        self._errors.append(e)

    def _check(self):
        """Raise what an application callback raised meanwhile."""
        if self._errors:
            first, self._errors = self._errors[0], []
            raise first

    @property
    def last_message(self):
        """The message of the last failed synchronous call."""
        if self._ptr is None:
            return ""
        return _native.text(lib.xdev_ctx_last_message(self._ptr))

    # -- devices ---------------------------------------------------------

    def _desc(self, desc):
        dtype = getattr(type(desc), "TYPE", None)
        if dtype is None:
            raise TypeError(f"not a device description: {desc!r}")
        ptr = ctypes.c_void_p()
        r = lib.xdev_desc_new(int(dtype), ctypes.byref(ptr))
        if r:
            raise error_for(r)
        for key, value in desc.items():
            r = lib.xdev_desc_set(ptr, key.encode(), value.encode())
            if r:
                message = _native.text(lib.xdev_desc_error(ptr))
                lib.xdev_desc_free(ptr)
                raise error_for(r, message)
        return dtype, ptr

    def _add(self, domid, desc, wait_connected, how):
        dtype, d = self._desc(desc)
        fn = lib.xdev_vbd_add if dtype == DeviceType.VBD else \
            lib.xdev_vif_add
        cid = _native.DeviceIdC()
        op_ptr = ctypes.c_void_p()
        flags = _native.XDEV_ADD_WAIT_CONNECTED if wait_connected else 0
        try:
            with self._lock:
                r = fn(self._live(), domid, d, flags,
                       ctypes.byref(how) if how is not None else None,
                       ctypes.byref(cid), ctypes.byref(op_ptr))
                message = self.last_message if r else ""
        finally:
            lib.xdev_desc_free(d)
        dev = _device(cid) if cid.type else None
        return r, message, dev, op_ptr.value

    def add(self, domid, desc, *, wait_connected=False, **timeouts):
        """Add the device DESC (a Vbd or Vif) to domain DOMID and wait for
        it; returns its DeviceId.  With WAIT_CONNECTED also wait for the
        backend's Connected.  TIMEOUTS (timeout_init,
        timeout_hotplug, timeout_connect: seconds) override the context's for
        this operation.  Raises XdevError (the exception's .device is the
        device's identity when it was known)."""
        r, message, dev, _ = self._add(domid, desc, wait_connected,
                                       _how(None, None, timeouts, "add"))
        self._check()
        if r:
            err = error_for(r, message)
            err.device = dev
            raise err
        return dev

    def _start(self, kind, start, callback, timeouts):
        how = _how(None, None, timeouts, kind)  # bad keywords raise here
        op = Operation(self, kind, None)
        how = _how(_on_op_done, op._token, timeouts, kind)
        _ops[op._token] = op   # before the start: it may complete inside
        self._pending[op._token] = op
        try:
            r, message, dev, ptr = start(how)
        except BaseException:
            _ops.pop(op._token, None)
            self._pending.pop(op._token, None)
            raise
        if r:
            # the callback is never called: forget the operation
            _ops.pop(op._token, None)
            self._pending.pop(op._token, None)
            err = error_for(r, message)
            err.device = dev
            raise err
        op.device = dev
        if op.code is None:
            op._ptr = ptr
            self._by_ptr[ptr] = op
        if callback is not None:
            op.add_done_callback(callback)
        return op

    def add_async(self, domid, desc, *, wait_connected=False, callback=None,
                  **timeouts):
        """Start adding DESC to DOMID; returns its Operation (whose device
        is known at once).  CALLBACK(op) is called when it is done.
        TIMEOUTS as for add().  Raises XdevError at once for what is
        checked before any node is written (bad description, missing
        domain, existing device)."""
        return self._start("add", lambda how: self._add(
            domid, desc, wait_connected, how), callback, timeouts)

    def _remove(self, device, mode, how):
        cid = _c_device(device)
        op_ptr = ctypes.c_void_p()
        with self._lock:
            r = lib.xdev_device_remove(
                self._live(), ctypes.byref(cid), int(_mode(mode)),
                ctypes.byref(how) if how is not None else None,
                ctypes.byref(op_ptr))
            message = self.last_message if r else ""
        return r, message, getattr(device, "id", device), op_ptr.value

    def remove(self, device, mode=RemoveMode.AUTO, **timeouts):
        """Remove DEVICE (a DeviceId or DeviceInfo) and wait.  MODE: a
        RemoveMode or "auto", "safe", "force".  TIMEOUTS (timeout_remove,
        timeout_hotplug: seconds) override the context's for this operation."""
        r, message, dev, _ = self._remove(device, mode,
                                          _how(None, None, timeouts, "remove"))
        self._check()
        if r:
            err = error_for(r, message)
            err.device = dev
            raise err

    def remove_async(self, device, mode=RemoveMode.AUTO, *, callback=None,
                     **timeouts):
        """Start removing DEVICE; returns its Operation.  TIMEOUTS as for
        remove()."""
        _mode(mode)  # a bad mode raises here, not from the library
        return self._start("remove", lambda how: self._remove(
            device, mode, how), callback, timeouts)

    def list_devices(self, domid):
        """The devices of domain DOMID, as DeviceInfo; they are monitored
        from now on (DEVICE_GONE if their backend disappears)."""
        arr = ctypes.POINTER(_native.DeviceInfoC)()
        n = ctypes.c_uint()
        with self._lock:
            r = lib.xdev_device_list(self._live(), domid, ctypes.byref(arr),
                                     ctypes.byref(n))
        self._check()
        if r:
            raise error_for(r)
        try:
            return [DeviceInfo(_device(arr[i].id),
                               _state(arr[i].frontend_state),
                               _state(arr[i].backend_state),
                               bool(arr[i].online),
                               _OPS.get(arr[i].op),
                               bool(arr[i].op_owner_alive)
                               if arr[i].op else None,
                               arr[i].op_owner_pid,
                               _HOTPLUG_KINDS.get(arr[i].hotplug_kind))
                    for i in range(n.value)]
        finally:
            _native.libc_free(arr)

    def recover(self, domid=None, *, dry_run=False):
        """Find the devices of DOMID (None: of every domain) that an xdev
        actor (a process: a manager, the CLI) left half added or half
        removed when it died, and unless DRY_RUN finish them: an
        interrupted add rolled back, an interrupted removal finished
        (xdev_ctx_recover).  Returns a list of Recovered."""
        found = []

        def one(user, f):
            f = f.contents
            found.append(Recovered(
                _device(f.id), _OPS.get(f.op, "?"), f.owner_pid,
                None if dry_run else f.result,
                "" if dry_run else _native.text(f.message)))

        cb = _native.RECOVER_FN(one)
        with self._lock:
            r = lib.xdev_ctx_recover(
                self._live(),
                _native.XDEV_DOMID_ANY if domid is None else domid,
                _native.XDEV_RECOVER_DRY_RUN if dry_run else 0, cb, None)
        self._check()
        if r < 0:
            raise error_for(r)
        return found

    def unmonitor(self, device):
        """No more events for DEVICE (a DeviceId a list or an add made the
        context monitor).  Raises NoDevice if it is not monitored,
        XdevError (-EBUSY) while an operation on it is pending."""
        cid = _c_device(device)
        with self._lock:
            r = lib.xdev_device_unmonitor(self._live(), ctypes.byref(cid))
        self._check()
        if r:
            raise error_for(r)


def version():
    """The library's release, e.g. "0.1.0"."""
    return _native.text(lib.xdev_version())


__all__ = ["Context", "Operation", "version", "Cancelled", "InvalidArgument"]
