"""Exceptions carrying the library's error codes.

Every failure of a library call raises an XdevError (or a subclass) with
`code` (the negative code libxdev returned), `name` (the symbolic name) and
`message` (the operation's message: the hotplug script's hotplug-error,
which wait ran out; "" if none).
"""
import errno

from . import _native

E_BASE = _native.XDEV_E_BASE
# xdev.h's enum, in order
E_BACKEND_GONE = E_BASE
E_FRONTEND_REFUSED = E_BASE + 1
E_HOTPLUG_FAILED = E_BASE + 2
E_DOMAIN_NOT_FOUND = E_BASE + 3
E_XENSTORE = E_BASE + 4
E_DEVICE_EXISTS = E_BASE + 5
E_NO_DEVICE = E_BASE + 6
E_FRONTEND_GONE = E_BASE + 7
E_CLEANUP_FAILED = E_BASE + 8

_NAMES = {
    E_BACKEND_GONE: "XDEV_E_BACKEND_GONE",
    E_FRONTEND_REFUSED: "XDEV_E_FRONTEND_REFUSED",
    E_HOTPLUG_FAILED: "XDEV_E_HOTPLUG_FAILED",
    E_DOMAIN_NOT_FOUND: "XDEV_E_DOMAIN_NOT_FOUND",
    E_XENSTORE: "XDEV_E_XENSTORE",
    E_DEVICE_EXISTS: "XDEV_E_DEVICE_EXISTS",
    E_NO_DEVICE: "XDEV_E_NO_DEVICE",
    E_FRONTEND_GONE: "XDEV_E_FRONTEND_GONE",
    E_CLEANUP_FAILED: "XDEV_E_CLEANUP_FAILED",
}


def code_name(code):
    """'XDEV_E_BACKEND_GONE', '-ETIMEDOUT', '0', ... for CODE."""
    if code == 0:
        return "0"
    if code in _NAMES:
        return _NAMES[code]
    if -code in errno.errorcode:
        return "-" + errno.errorcode[-code]
    return str(code)


def strerror(code):
    """The library's description of CODE (xdev_strerror)."""
    return _native.text(_native.lib.xdev_strerror(code))


class XdevError(Exception):
    """A libxdev call or operation failed."""

    def __init__(self, code, message=""):
        self.code = code
        self.name = code_name(code)
        self.message = message or ""
        text = strerror(code)
        if self.message:
            text += ": " + self.message
        super().__init__(text)

    def __reduce__(self):
        # pickled with its code (SimHost.call sends exceptions back)
        return (type(self), (self.code, self.message), self.__dict__)


class InvalidArgument(XdevError, ValueError):
    """-EINVAL: a bad description or argument."""


class XdevTimeout(XdevError, TimeoutError):
    """-ETIMEDOUT: a wait ran out (which one: message)."""


class Cancelled(XdevError):
    """-ECANCELED: the operation was cancelled (also: its context was
    closed while it was pending)."""


class BackendGone(XdevError):
    """XDEV_E_BACKEND_GONE: the backend domain or directory vanished."""


class FrontendGone(XdevError):
    """XDEV_E_FRONTEND_GONE: the frontend domain died, or its device
    directory vanished."""


class CleanupFailed(XdevError):
    """XDEV_E_CLEANUP_FAILED: a removal deleted the frontend, but the
    backend's remove script failed or could not run (which: message); the
    backend directory and xdev's record are kept, so that removing the
    device again retries the script."""


class FrontendRefused(XdevError):
    """XDEV_E_FRONTEND_REFUSED: the guest refused the unplug (SAFE)."""


class HotplugFailed(XdevError):
    """XDEV_E_HOTPLUG_FAILED: the hotplug script failed (its
    hotplug-error is the message)."""


class DomainNotFound(XdevError, LookupError):
    """XDEV_E_DOMAIN_NOT_FOUND"""


class XenstoreError(XdevError):
    """XDEV_E_XENSTORE: the store failed a request."""


class DeviceExists(XdevError):
    """XDEV_E_DEVICE_EXISTS"""


class NoDevice(XdevError, LookupError):
    """XDEV_E_NO_DEVICE"""


_CLASSES = {
    -errno.EINVAL: InvalidArgument,
    -errno.ETIMEDOUT: XdevTimeout,
    -errno.ECANCELED: Cancelled,
    E_BACKEND_GONE: BackendGone,
    E_FRONTEND_GONE: FrontendGone,
    E_CLEANUP_FAILED: CleanupFailed,
    E_FRONTEND_REFUSED: FrontendRefused,
    E_HOTPLUG_FAILED: HotplugFailed,
    E_DOMAIN_NOT_FOUND: DomainNotFound,
    E_XENSTORE: XenstoreError,
    E_DEVICE_EXISTS: DeviceExists,
    E_NO_DEVICE: NoDevice,
}


def error_for(code, message=""):
    """The exception for a negative CODE."""
    return _CLASSES.get(code, XdevError)(code, message)
