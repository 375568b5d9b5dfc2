"""xdev: Xen paravirtual devices (vbd, vif), added and removed the way
libxl does, with libxdev's fixes.  A ctypes binding of libxdev (no compiled
extension); docs/python.md is the guide.

    import xdev
    with xdev.Context(timeout_remove=5) as ctx:
        disk = ctx.add(3, xdev.Vbd(vdev="xvdb", target="/dev/vg/data"),
                       wait_connected=True)
        ctx.remove(disk, mode="safe")

libxdev is $XDEV_LIBRARY if set, else the installed libxdev.so.2.
"""
from ._native import LibraryMissing
from .context import Context, Operation, version
from .errors import (BackendGone, Cancelled, CleanupFailed, DeviceExists,
                     DomainNotFound, FrontendGone, FrontendRefused,
                     HotplugFailed, InvalidArgument, NoDevice, XdevError,
                     XdevTimeout, XenstoreError, code_name, error_for,
                     strerror)
from .types import (DeviceId, DeviceInfo, DeviceType, Event, EventType,
                    Hotplug, LogLevel, Recovered, RemoveMode, Vbd, Vif,
                    XenbusState)



def __getattr__(name):
    # the library's release, read when asked: `import xdev` does not load
    # libxdev (LibraryMissing comes at its first use)
    if name == "__version__":
        return version()
    raise AttributeError(f"module 'xdev' has no attribute {name!r}")


__all__ = [
    "Context", "Operation", "version", "LibraryMissing",
    "XdevError", "InvalidArgument", "XdevTimeout", "Cancelled",
    "BackendGone", "FrontendGone", "FrontendRefused", "HotplugFailed",
    "CleanupFailed",
    "DomainNotFound", "XenstoreError", "DeviceExists", "NoDevice",
    "code_name", "error_for", "strerror",
    "DeviceId", "DeviceInfo", "DeviceType", "Event", "EventType", "Hotplug",
    "LogLevel", "Recovered", "RemoveMode", "Vbd", "Vif", "XenbusState",
]
