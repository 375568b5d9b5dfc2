"""Plain data: device descriptions, identities, listings and events."""
import enum
from dataclasses import dataclass, fields
from typing import Optional, Union


class DeviceType(enum.IntEnum):
    VBD = 1
    VIF = 2


class RemoveMode(enum.IntEnum):
    """xdev_remove_mode: AUTO waits, then forces; SAFE waits, then fails
    and restores; FORCE does not wait."""
    AUTO = 0
    SAFE = 1
    FORCE = 2


class Hotplug(enum.IntEnum):
    """Who runs the backends' hotplug scripts (docs/library.md)."""
    LIBRARY = 0
    EXTERNAL = 1
    NONE = 2
    DAEMON = 3


class EventType(enum.IntEnum):
    OP_DONE = 1
    DEVICE_STATE = 2
    DEVICE_GONE = 3


class LogLevel(enum.IntEnum):
    ERROR = 0
    WARNING = 1
    INFO = 2
    DEBUG = 3


class XenbusState(enum.IntEnum):
    UNKNOWN = 0
    INITIALISING = 1
    INIT_WAIT = 2
    INITIALISED = 3
    CONNECTED = 4
    CLOSING = 5
    CLOSED = 6
    RECONFIGURING = 7
    RECONFIGURED = 8


@dataclass(frozen=True)
class DeviceId:
    """A device's identity (xdev_device_id)."""
    type: DeviceType
    backend_domid: int
    frontend_domid: int
    devid: int

    @property
    def frontend_path(self):
        return (f"/local/domain/{self.frontend_domid}/device/"
                f"{self.type.name.lower()}/{self.devid}")

    @property
    def backend_path(self):
        return (f"/local/domain/{self.backend_domid}/backend/"
                f"{self.type.name.lower()}/{self.frontend_domid}/"
                f"{self.devid}")

    @property
    def record_path(self):
        """The toolstack's record of the device."""
        return (f"/xdev/{self.frontend_domid}/{self.type.name.lower()}/"
                f"{self.devid}")

    def __str__(self):
        return (f"{self.type.name.lower()}/{self.devid}@"
                f"{self.frontend_domid}(backend {self.backend_domid})")


def _state(value):
    try:
        return XenbusState(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class DeviceInfo:
    """One entry of Context.list_devices() (xdev_device_info).  OPERATION
    ("add", "remove" or None) is an operation holding the device, by any
    xdev actor; with OWNER_ALIVE False its actor died half-way
    (Context.recover() finishes it)."""
    id: DeviceId
    frontend_state: XenbusState  # UNKNOWN (0): the node is missing
    backend_state: XenbusState
    online: bool
    operation: Optional[str] = None
    owner_alive: Optional[bool] = None
    owner_pid: int = 0
    # who does its hotplug, as its record says: "native" (the library
    # itself), "script", "none" (an outside agent, xdevd, or none), or
    # None (no record: not added by xdev)
    hotplug: Optional[str] = None


@dataclass(frozen=True)
class Recovered:
    """A device Context.recover() found held by a dead actor: what was
    interrupted ("add" or "remove"), by which process, and the result of
    finishing it (None in a dry run)."""
    device: DeviceId
    interrupted: str
    owner_pid: int
    result: Optional[int] = None
    message: str = ""


@dataclass(frozen=True)
class Event:
    """A library event: OP_DONE (result, op), DEVICE_STATE
    (backend_state), DEVICE_GONE (backend_domain_alive: its directory was
    deleted, not its domain dead)."""
    type: EventType
    device: DeviceId
    backend_state: int = 0
    result: int = 0
    op: Optional[object] = None  # the Operation, for OP_DONE
    backend_domain_alive: bool = False


Domain = Union[int, str]


@dataclass
class _Desc:
    """What every description has: the backend domain and the script.
    Unset (None) fields take the library's defaults."""

    def items(self):
        """(key, value) of the set fields, as xdev_desc_set() takes them."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                raise TypeError(f"{f.name}: {value!r} is not a valid value")
            yield f.name, str(value)


@dataclass
class Vbd(_Desc):
    """A virtual block device: the keys of xl's disk spec."""
    vdev: str = None                 # xvdb, hda, sdc, xvdb1, ... (required)
    target: str = None               # the disk: a device or image (required)
    format: Optional[str] = None     # raw, qcow, qcow2, vhd, qed
    access: Optional[str] = None     # r/ro, w/rw
    devtype: Optional[str] = None    # disk, cdrom
    backend: Optional[Domain] = None  # the backend domain (default 0)
    script: Optional[str] = None     # hotplug script (default block)

    TYPE = DeviceType.VBD


@dataclass
class Vif(_Desc):
    """A virtual network interface: the keys of xl's network spec."""
    devid: Optional[int] = None      # default: the lowest free
    mac: Optional[str] = None        # default: random 00:16:3e:xx:xx:xx
    bridge: Optional[str] = None     # default xenbr0
    mtu: Optional[int] = None
    backend: Optional[Domain] = None
    script: Optional[str] = None     # default vif-bridge

    TYPE = DeviceType.VIF
