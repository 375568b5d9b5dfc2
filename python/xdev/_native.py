"""The C library, loaded with ctypes: every function's argument and return
types, and the structures of xdev.h.

Which libxdev: $XDEV_LIBRARY (a path, e.g. the build tree's
lib/.libs/libxdev.so) if set, else the installed soname libxdev.so.2.
Nothing here is public; xdev.context wraps it.
"""
import ctypes
import os

SONAME = "libxdev.so.2"


class DeviceIdC(ctypes.Structure):
    """xdev_device_id"""
    _fields_ = [("type", ctypes.c_int),
                ("backend_domid", ctypes.c_uint32),
                ("frontend_domid", ctypes.c_uint32),
                ("devid", ctypes.c_uint32)]


class EventC(ctypes.Structure):
    """xdev_event: valid only during the event callback"""
    _fields_ = [("type", ctypes.c_int),
                ("device", DeviceIdC),
                ("backend_state", ctypes.c_int),
                ("result", ctypes.c_int),
                ("op", ctypes.c_void_p),
                ("backend_domain_alive", ctypes.c_int)]


class DeviceInfoC(ctypes.Structure):
    """xdev_device_info"""
    _fields_ = [("id", DeviceIdC),
                ("frontend_state", ctypes.c_int),
                ("backend_state", ctypes.c_int),
                ("online", ctypes.c_int),
                ("op", ctypes.c_int),
                ("op_owner_alive", ctypes.c_int),
                ("op_owner_pid", ctypes.c_int32),
                ("hotplug_kind", ctypes.c_int32),
                ("reserved_int", ctypes.c_int32),
                ("reserved", ctypes.c_long * 3)]


class RecoveredC(ctypes.Structure):
    """xdev_recovered"""
    _fields_ = [("id", DeviceIdC),
                ("op", ctypes.c_int),
                ("owner_pid", ctypes.c_int32),
                ("result", ctypes.c_int),
                ("message", ctypes.c_char_p)]


# void (*)(void *user, const xdev_recovered *found)
RECOVER_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p,
                              ctypes.POINTER(RecoveredC))
XDEV_DOMID_ANY = 0xffffffff
XDEV_RECOVER_DRY_RUN = 1


# void (*)(void *user, enum xdev_log_level, const char *message)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int,
                          ctypes.c_char_p)
# void (*)(void *user, const xdev_event *)
EVENT_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(EventC))
# void (*)(xdev_op *, int result, void *user)
OP_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int,
                         ctypes.c_void_p)


# xdev_loop_hooks: the context on the application's loop (xdev.aio)
# int (*fd_register)(void *user, int fd, int events, void **fd_user)
FD_REGISTER_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                  ctypes.c_int,
                                  ctypes.POINTER(ctypes.c_void_p))
# void (*fd_deregister)(void *user, int fd, void *fd_user)
FD_DEREGISTER_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.c_void_p)
# void (*timer_set)(void *user, long ms)
TIMER_SET_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_long)


class LoopHooksC(ctypes.Structure):
    """xdev_loop_hooks (copied by xdev_ctx_new: the functions, not the
    structure, must outlive the context)"""
    _fields_ = [("fd_register", FD_REGISTER_FN),
                ("fd_deregister", FD_DEREGISTER_FN),
                ("timer_set", TIMER_SET_FN),
                ("user", ctypes.c_void_p)]


class CtxOptsC(ctypes.Structure):
    """xdev_ctx_opts.  The library keeps a copy of the structure, with its
    string pointers: their buffers must outlive the context."""
    _fields_ = [("xenstore_path", ctypes.c_char_p),
                ("timeout_init_ms", ctypes.c_int),
                ("timeout_hotplug_ms", ctypes.c_int),
                ("timeout_connect_ms", ctypes.c_int),
                ("timeout_remove_ms", ctypes.c_int),
                ("hotplug", ctypes.c_int),
                ("hotplug_dir", ctypes.c_char_p),
                ("log_cb", LOG_FN),
                ("log_level", ctypes.c_int),
                ("log_user", ctypes.c_void_p),
                ("event_cb", EVENT_FN),
                ("event_user", ctypes.c_void_p),
                ("hooks", ctypes.c_void_p),
                ("max_scripts", ctypes.c_int),
                ("max_ops_per_backend", ctypes.c_int),
                ("native", ctypes.c_int),
                ("hotplug_state_dir", ctypes.c_char_p),
                ("reserved", ctypes.c_long * 6)]


class OpHowC(ctypes.Structure):
    """xdev_op_how"""
    _fields_ = [("cb", OP_FN), ("user", ctypes.c_void_p),
                ("timeout_init_ms", ctypes.c_int),
                ("timeout_hotplug_ms", ctypes.c_int),
                ("timeout_connect_ms", ctypes.c_int),
                ("timeout_remove_ms", ctypes.c_int),
                ("reserved", ctypes.c_long * 4)]


_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_INT = ctypes.c_int
_U32 = ctypes.c_uint32
_STR = ctypes.c_char_p

# name: (restype, argtypes)
PROTOTYPES = {
    "xdev_strerror": (_STR, [_INT]),
    "xdev_version": (_STR, []),
    "xdev_ctx_new": (_INT, [ctypes.POINTER(CtxOptsC), _PP]),
    "xdev_ctx_free": (None, [_P]),
    "xdev_ctx_close": (_INT, [_P]),
    "xdev_ctx_recover": (_INT, [_P, ctypes.c_uint32, ctypes.c_uint,
                                RECOVER_FN, ctypes.c_void_p]),
    "xdev_ctx_pending": (_INT, [_P]),
    "xdev_ctx_run": (_INT, [_P, _INT]),
    "xdev_ctx_fd_ready": (_INT, [_P, _INT, _INT]),
    "xdev_ctx_timeout": (_INT, [_P]),
    "xdev_ctx_last_message": (_STR, [_P]),
    "xdev_desc_new": (_INT, [_INT, _PP]),
    "xdev_desc_free": (None, [_P]),
    "xdev_desc_set": (_INT, [_P, _STR, _STR]),
    "xdev_desc_error": (_STR, [_P]),
    "xdev_vbd_add": (_INT, [_P, _U32, _P, ctypes.c_uint,
                            ctypes.POINTER(OpHowC),
                            ctypes.POINTER(DeviceIdC), _PP]),
    "xdev_vif_add": (_INT, [_P, _U32, _P, ctypes.c_uint,
                            ctypes.POINTER(OpHowC),
                            ctypes.POINTER(DeviceIdC), _PP]),
    "xdev_device_remove": (_INT, [_P, ctypes.POINTER(DeviceIdC), _INT,
                                  ctypes.POINTER(OpHowC), _PP]),
    "xdev_op_cancel": (_INT, [_P]),
    "xdev_op_device": (ctypes.POINTER(DeviceIdC), [_P]),
    "xdev_op_message": (_STR, [_P]),
    "xdev_device_list": (_INT, [_P, _U32,
                                ctypes.POINTER(ctypes.POINTER(DeviceInfoC)),
                                ctypes.POINTER(ctypes.c_uint)]),
    "xdev_device_unmonitor": (_INT, [_P, ctypes.POINTER(DeviceIdC)]),
}

# xdev.h constants
XDEV_E_BASE = -4096
XDEV_ADD_WAIT_CONNECTED = 1
XDEV_POLL_IN = 1


class LibraryMissing(OSError):
    """libxdev could not be loaded (raised at the first use of the
    library, not by `import xdev`)."""


def _load():
    path = os.environ.get("XDEV_LIBRARY") or SONAME
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise LibraryMissing(
            f"cannot load libxdev ({path}): {e}; install libxdev (Debian: "
            "libxdev2) or set XDEV_LIBRARY to the path of libxdev.so "
            "(e.g. build/lib/.libs/libxdev.so)") from e
    for name, (restype, argtypes) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


class _Library:
    """libxdev, loaded at first use: `import xdev` works without it (a
    program's --help, documentation tools), and the first call says what
    is missing.  A failed load is tried again at the next use."""

    def __init__(self):
        self._lib = None

    def __getattr__(self, name):
        if self._lib is None:
            self._lib = _load()
        return getattr(self._lib, name)


lib = _Library()

_libc = ctypes.CDLL(None)
libc_free = _libc.free
libc_free.restype = None
libc_free.argtypes = [ctypes.c_void_p]


def text(value):
    """A C string as str ("" for NULL)."""
    return value.decode("utf-8", "replace") if value else ""
