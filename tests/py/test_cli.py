"""The xdev command line (bin/xdev, docs/cli.md) against the simulated host.

Every command and option runs as an operator runs it, inside the host
(`xdev-sim exec`, so libxenctrl sees the simulated hypervisor), and what
it prints is compared with what the real xenstored holds, read with the
real xenstore-utils.  The disk-spec table checks that xl's documented
forms (xl-disk-configuration(5)) mean the same here; the malformed specs
each get their own message and leave the store untouched.
"""
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import BUILDDIR, SANITIZED, SRCDIR, XDEV_SIM, run

XDEV = os.path.join(BUILDDIR, "bin", "xdev")
TEST_SCRIPTS = os.path.join(SRCDIR, "tests", "hotplug")
EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_TIMEOUT = 1, 2, 3, 4
EXIT_EXISTS, EXIT_HOTPLUG, EXIT_REFUSED, EXIT_BUSY = 5, 6, 7, 8

root_only = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="loop devices and the devices' taps need root")


def xdev(*args, check=False, env=None):
    """The CLI outside any host: only what needs no store."""
    return run([XDEV] + list(args), env=env, check=check)


# ---- the disk spec, as xl documents it -----------------------------------

def disk(target, vdev, access="w", devtype="disk", fmt="raw", **extra):
    d = {"target": target, "vdev": vdev, "format": fmt, "access": access,
         "devtype": devtype}
    d.update(extra)
    return d


VG = "/dev/vg/guest-volume"
ISO = "/root/image.iso"
# (disk-spec components, the description it means): xl-disk-configuration(5)
DISK_SPECS = [
    # "these strings are equivalent"
    ([f"{VG},,hda"], disk(VG, "hda")),
    ([f"{VG},raw,hda,rw"], disk(VG, "hda")),
    ([f"format=raw, vdev=hda, access=rw, target={VG}"], disk(VG, "hda")),
    ([f"raw:{VG},hda,w"], disk(VG, "hda")),
    # "as are these"
    ([f"{ISO},,hdc,cdrom"], disk(ISO, "hdc", "r", "cdrom")),
    ([f"{ISO},,hdc,,cdrom"], disk(ISO, "hdc", "r", "cdrom")),
    ([f"{ISO},raw,hdc,devtype=cdrom"], disk(ISO, "hdc", "r", "cdrom")),
    ([f"format=raw, vdev=hdc, access=ro, devtype=cdrom, target={ISO}"],
     disk(ISO, "hdc", "r", "cdrom")),
    ([f"raw:{ISO},hdc:cdrom,ro"], disk(ISO, "hdc", "r", "cdrom")),
    # the legacy form of the issue, and the deprecated prefixes
    (["phy:/dev/vg/lv,xvdb,w"], disk("/dev/vg/lv", "xvdb")),
    (["phy:/dev/vg/lv,xvdb,r"], disk("/dev/vg/lv", "xvdb", "r")),
    (["file:/srv/a.img,xvda,w"], disk("/srv/a.img", "xvda")),
    (["tap:aio:/srv/a.img,xvda,w"], disk("/srv/a.img", "xvda")),
    (["tap2:tapdisk:aio:/srv/a.img,xvda,w"], disk("/srv/a.img", "xvda")),
    (["qcow2:/srv/a.qcow2,xvda,w"], disk("/srv/a.qcow2", "xvda",
                                        fmt="qcow2")),
    (["vhd:/srv/a.vhd,xvda,w"], disk("/srv/a.vhd", "xvda", fmt="vhd")),
    (["nbd:host:1234,xvda,w"], disk("host:1234", "xvda",
                                    script="block-nbd")),
    # positional forms
    (["/dev/vg/lv,qcow2,xvdb"], disk("/dev/vg/lv", "xvdb", fmt="qcow2")),
    (["/dev/vg/lv,,xvdb,ro"], disk("/dev/vg/lv", "xvdb", "r")),
    (["/dev/vg/lv,,xvdb,"], disk("/dev/vg/lv", "xvdb")),
    (["/srv/a.img,,xvdb,r,devtype=disk"], disk("/srv/a.img", "xvdb", "r")),
    # a target without '/' is under /dev, unless a script reads it
    (["vg/lv,,xvdb"], disk("/dev/vg/lv", "xvdb")),
    (["script=ok, vdev=xvdb, target=iqn.x:lun0"],
     disk("iqn.x:lun0", "xvdb", script="ok")),
    # target= last eats the rest: commas, '=', ':' and blanks
    (["vdev=xvdb,target=/srv/a,b=c:d e,"], disk("/srv/a,b=c:d e", "xvdb")),
    ([",,xvdb,w,target=/srv/x"], disk("/srv/x", "xvdb")),
    # blanks before parameters; the flags; named and positional mixed
    (["  vdev=xvdb,\ttarget=/dev/x"], disk("/dev/x", "xvdb")),
    (["cdrom, vdev=hdc, target=/srv/a.iso"],
     disk("/srv/a.iso", "hdc", "r", "cdrom")),
    (["/dev/x,raw,xvdb,w,backend=drv"], disk("/dev/x", "xvdb",
                                             backend="drv")),
    (["vdev=xvdb,backendtype=phy,no-discard,specification=xen,"
      "target=/dev/x"], disk("/dev/x", "xvdb")),
    (["vdev=xvdb,access=ro,access=rw,target=/dev/x"], disk("/dev/x", "xvdb")),
    (["devtype=cdrom,devtype=disk,vdev=xvdb,target=/dev/x"],
     disk("/dev/x", "xvdb")),
    # several components, parsed in turn (xl block-attach)
    (["phy:/dev/vg/lv", "xvdb", "w"], disk("/dev/vg/lv", "xvdb")),
    (["format=raw", "vdev=xvdb", "target=/dev/vg/lv"],
     disk("/dev/vg/lv", "xvdb")),
    # vdev names and numbers the library accepts
    (["/dev/x,,xvdaa"], disk("/dev/x", "xvdaa")),
    (["/dev/x,,d0p1"], disk("/dev/x", "d0p1")),
    (["/dev/x,,51712"], disk("/dev/x", "51712")),
]


@pytest.mark.parametrize("spec,want", DISK_SPECS,
                         ids=[" ".join(s) for s, _ in DISK_SPECS])
def test_disk_spec_parses_as_xl_documents(spec, want):
    proc = xdev("block-attach", "--dry-run", "-j", "guest", *spec)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"command": "block-attach", "domain": "guest",
                   "type": "vbd", "description": want, "ok": True}
    assert proc.stderr == ""


# (disk-spec, what the message must say)
BAD_DISK_SPECS = [
    ("xvdb", "no vdev: add vdev="),
    ("/dev/x", "no vdev"),
    ("vdev=xvdb", "no target: add target=PATH"),
    ("/dev/x,,xvdb,w,extra", "too many positional parameters at 'extra'"),
    ("foo=bar,/dev/x,,xvdb", "unknown key 'foo'"),
    ("/dev/x,ext4,xvdb", "unknown format 'ext4'"),
    ("format=raw,format=qcow2,vdev=xvdb,target=/dev/x",
     "format given twice ('raw', then 'qcow2')"),
    ("vdev=xvdb,vdev=xvdc,target=/dev/x", "vdev given twice"),
    ("/dev/x,,xvdb,rx", "unknown access 'rx'"),
    ("devtype=floppy,vdev=xvdb,target=/dev/x", "unknown devtype 'floppy'"),
    ("/dev/x,,hdc:tape", "unknown device type 'tape'"),
    ("weird:/dev/x,xvdb,w", "unknown prefix 'weird:'"),
    ("/dev/a=b,,xvdb", "must be given as target=... last"),
    (",hdc:cdrom,r", "an empty cdrom drive is not supported"),
    ("cdrom,vdev=hdc", "an empty cdrom drive is not supported"),
    ("/dev/x,empty,xvdb", "format=empty is only for an empty cdrom"),
    ("cdrom,vdev=hdc,access=rw,target=/srv/a.iso", "a cdrom is read-only"),
    ("vdev=xvdb,backendtype=qdisk,target=/dev/x",
     "backendtype=qdisk is not supported"),
    ("vdev=xvdb,backendtype=nvme,target=/dev/x", "unknown backendtype 'nvme'"),
    ("vdev=xvdb,specification=virtio,target=/dev/x",
     "specification=virtio is not supported"),
    ("vdev=xvdb,discard,target=/dev/x", "'discard' is not supported"),
    ("vdev=xvdb,direct-io-safe,target=/dev/x",
     "'direct-io-safe' is not supported"),
    ("vdev=xvdb,colo,target=/dev/x", "'colo' is not supported"),
    ("vdev=xvdb,untrusted,target=/dev/x", "'untrusted' is not supported"),
    # values the library refuses, with its message
    ("/dev/x,,xvd!", "vbd: vdev 'xvd!'"),
    ("/dev/x,,hdz", "IDE disks are hda..hdt"),
    ("/dev/x,,xvdb,w,backend=-1", "vbd: backend '-1'"),
    ("vdev=xvdb,script=../../bin/sh,target=/dev/x",
     "has an empty, '.' or '..' path component"),
    ("vdev=xvdb,script=a;b,target=/dev/x", "contains a character other"),
    ("vdev=xvdb,target=/dev/x\x01y", "contains a control character"),
    ("", "no vdev"),
    # blanks are skipped before a parameter only, as in xl
    ("vdev=xvdb ,target=/dev/x", "vbd: vdev 'xvdb '"),
]


@pytest.mark.parametrize("spec,message", BAD_DISK_SPECS,
                         ids=[s for s, _ in BAD_DISK_SPECS])
def test_malformed_disk_spec_has_its_message(spec, message):
    # no --dry-run and no host: refused before any store is reached
    env = dict(os.environ, XENSTORED_PATH="/nonexistent/socket")
    proc = xdev("block-attach", "guest", spec, env=env)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert message in proc.stderr
    assert proc.stderr.startswith("xdev: invalid disk spec")
    assert proc.stdout == ""


NIC_SPECS = [
    ([], {}),
    (["mac=00:16:3E:00:00:01"], {"mac": "00:16:3E:00:00:01"}),
    (["bridge=br0", "mtu=9000", "backend=drv", "script=vif-ok"],
     {"mtu": "9000", "bridge": "br0", "backend": "drv", "script": "vif-ok"}),
    (["mac=00:16:3e:00:00:02,bridge=br1,devid=3"],
     {"devid": "3", "mac": "00:16:3e:00:00:02", "bridge": "br1"}),
    (["bridge=", "bridge=br2"], {"bridge": "br2"}),
]


@pytest.mark.parametrize("spec,want", NIC_SPECS,
                         ids=[" ".join(s) or "empty" for s, _ in NIC_SPECS])
def test_network_spec(spec, want):
    proc = xdev("network-attach", "-n", "-j", "guest", *spec)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["description"] == want


BAD_NIC_SPECS = [
    ("mac", "not key=value"),
    ("colour=red", "unknown key 'colour'"),
    ("ip=10.0.0.1", "'ip' is not supported by xdev"),
    ("vifname=v0", "'vifname' is not supported by xdev"),
    ("bridge=a,bridge=b", "bridge given twice"),
    ("mac=01:00:5e:00:00:01", "a multicast address"),
    ("mac=00:16:3e:00:00", "not a MAC address"),
    ("mtu=20", "not an MTU"),
    ("bridge=a/b", "not a Linux interface name"),
    ("devid=65536", "not a device handle"),
]


@pytest.mark.parametrize("spec,message", BAD_NIC_SPECS,
                         ids=[s for s, _ in BAD_NIC_SPECS])
def test_malformed_network_spec_has_its_message(spec, message):
    proc = xdev("network-attach", "guest", spec)
    assert proc.returncode == EXIT_USAGE
    assert message in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("args,message", [
    ([], "usage:"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["block-attach"], "needs a domain and a disk spec"),
    (["block-attach", "--force", "g", "/dev/x,,xvdb"],
     "--force does not apply"),
    (["block-list", "--dry-run", "g"], "--dry-run does not apply"),
    # the option that does not apply, whichever came last
    (["block-attach", "--force", "-n", "g", "/dev/x,,xvdb"],
     "--force does not apply"),
    (["block-attach", "-n", "--force", "g", "/dev/x,,xvdb"],
     "--force does not apply"),
    (["block-detach", "--force", "--safe", "g", "xvdb"], "contradict"),
    (["block-detach", "g"], "needs a domain and a device"),
    (["block-list"], "needs at least one domain"),
    (["--timeout", "soon", "block-list", "g"], "not a number of seconds"),
    (["--timeout", "0", "block-list", "g"],
     "not a number of seconds above 0 and at most 86400"),
    (["block-attach", "--hotplug", "udev", "g", "/dev/x,,xvdb"],
     "hotplug mode 'udev'"),
    (["block-list", "--bogus", "g"], "invalid option"),
])
def test_invalid_usage_exits_2(args, message):
    proc = xdev(*args)
    assert proc.returncode == EXIT_USAGE
    assert message in proc.stderr


def test_help_and_version():
    proc = xdev("--help", check=True)
    for cmd in ("block-attach", "block-detach", "block-list",
                "network-attach", "network-detach", "network-list",
                "monitor"):
        assert cmd in proc.stdout
    assert "exit codes" in proc.stdout
    assert "usage: xdev block-detach" in xdev("block-detach", "-h",
                                              check=True).stdout
    assert xdev("--version", check=True).stdout.startswith("xdev ")


# ---- on the simulated host ---------------------------------------------------

class Cli:
    """xdev and the store of one simulated host."""

    def __init__(self, host, tmp_path):
        self.host = host
        self.tmp = tmp_path
        self.loops = []
        self.env = dict(host.env, XDEV_HOTPLUG_DIR=TEST_SCRIPTS)

    def cmd(self, *args, prefix=()):
        return [XDEV_SIM, "exec", "--"] + list(prefix) + [XDEV] + list(args)

    def __call__(self, *args, code=0, env=None):
        proc = run(self.cmd(*args), env=dict(self.env, **(env or {})),
                   check=False)
        assert proc.returncode == code, \
            f"{args}: exit {proc.returncode}, {proc.stderr}"
        return proc

    def json(self, *args):
        """The JSON of a success: an object says "ok": true (taken out
        here: the rest is compared with the store), an array is a
        listing."""
        out = json.loads(self("-j", *args).stdout)
        if isinstance(out, dict):
            assert out.pop("ok") is True, out
        return out

    def read(self, path):
        proc = self.host.xs("xenstore-read", "--", path, check=False)
        return proc.stdout[:-1] if proc.returncode == 0 else None

    def exists(self, path):
        return self.host.xs("xenstore-exists", "--", path,
                            check=False).returncode == 0

    def dump(self):
        return self.host.xs("xenstore-ls", "-p", "/").stdout

    def loop(self):
        """A 4 MiB image on a loop device: a real block device, which the
        test hotplug script `ok` reports as physical-device."""
        image = self.tmp / f"disk{len(self.loops)}.img"
        with open(image, "wb") as f:
            f.truncate(4 << 20)
        dev = run(["losetup", "--find", "--show", str(image)]).stdout.strip()
        self.loops.append(dev)
        return dev

    def close(self):
        for dev in self.loops:
            run(["losetup", "--detach", dev], check=False)


@pytest.fixture
def cli(host, tmp_path):
    c = Cli(host, tmp_path)
    yield c
    c.close()


def num(v):
    return int(v) if v is not None and v.isdigit() else None


STATES = ["Unknown", "Initialising", "InitWait", "Initialised", "Connected",
          "Closing", "Closed", "Reconfiguring", "Reconfigured"]


def hotplug_kind(cli, domid, kind, devid):
    """Who does its hotplug, from xdev's record (dom0's): "native" (the
    record's script says so), "script" (a path), "none" (no script), or
    None without a record."""
    rec = f"/xdev/{domid}/{kind}/{devid}"
    if cli.read(rec) is None:
        return None
    script = cli.read(f"{rec}/script")
    return ("none" if script is None else
            "native" if script == "native" else "script")


def expected(cli, domid, name, kind, devid):
    """A device's JSON (docs/cli.md), built from the store's nodes."""
    fe = f"/local/domain/{domid}/device/{kind}/{devid}"
    be = cli.read(f"{fe}/backend")
    r = cli.read
    fst, bst = num(r(f"{fe}/state")), num(r(f"{be}/state"))
    d = {"domid": domid, "domain": name, "type": kind, "devid": devid,
         "backend_domid": int(r(f"{fe}/backend-id")), "frontend": fe,
         "backend": be, "frontend_state": fst,
         "frontend_state_name": STATES[fst] if fst is not None else None,
         "backend_state": bst,
         "backend_state_name": STATES[bst] if bst is not None else None,
         "online": r(f"{be}/online") == "1",
         "hotplug_status": r(f"{be}/hotplug-status"),
         "script": r(f"{be}/script"),
         "hotplug": hotplug_kind(cli, domid, kind, devid),
         "event_channel": num(r(f"{fe}/event-channel")),
         "operation": None}
    if kind == "vbd":
        d.update(vdev=r(f"{be}/dev"), target=r(f"{be}/params"),
                 mode=r(f"{be}/mode"), device_type=r(f"{be}/device-type"),
                 format=r(f"{be}/format"),
                 physical_device=r(f"{be}/physical-device"),
                 ring_ref=num(r(f"{fe}/ring-ref")))
    else:
        d.update(mac=r(f"{fe}/mac"), bridge=r(f"{be}/bridge"),
                 mtu=num(r(f"{be}/mtu")), handle=num(r(f"{fe}/handle")),
                 tx_ring_ref=num(r(f"{fe}/tx-ring-ref")),
                 rx_ring_ref=num(r(f"{fe}/rx-ring-ref")))
    return d


def gone(cli, domid, kind, devid, be_domid=0):
    return not (cli.exists(f"/local/domain/{domid}/device/{kind}/{devid}") or
                cli.exists(f"/local/domain/{be_domid}/backend/{kind}/{domid}/"
                           f"{devid}") or
                cli.exists(f"/xdev/{domid}/{kind}/{devid}"))


@root_only
def test_block_attach_list_detach(cli):
    g = int(cli.host.sim("domain-create", "alice").stdout)
    loop = cli.loop()
    out = cli.json("block-attach", "--wait-connected", "alice",
                   f"format=raw, vdev=xvdb, access=rw, script=ok, "
                   f"target={loop}")
    # --wait-connected waits for the backend; blkfront connects after it,
    # so the JSON may have caught the frontend still Initialised
    fe = f"/local/domain/{g}/device/vbd/51728"
    assert out["frontend_state"] in (3, 4), out
    assert cli.host.sim("wait", f"{fe}/state", "4", check=False) \
        .returncode == 0, "the frontend did not connect"
    assert dict(out, frontend_state=4, frontend_state_name="Connected") \
        == expected(cli, g, "alice", "vbd", 51728)
    assert out["backend_state_name"] == "Connected"
    assert out["target"] == loop and out["mode"] == "w"
    assert out["physical_device"] is not None
    listed = cli.json("block-list", "alice")
    assert listed == [expected(cli, g, "alice", "vbd", 51728)]
    # xl's table
    table = cli("block-list", str(g)).stdout.splitlines()
    assert table[0].split() == ["Vdev", "BE", "handle", "state", "evt-ch",
                                "ring-ref", "BE-path"]
    assert table[1].split() == [
        "51728", "0", str(g), "4", str(out["event_channel"]),
        str(out["ring_ref"]), "/local/domain/0/backend/vbd/%d/51728" % g]
    detached = cli.json("block-detach", "alice", "xvdb")
    assert detached == {"domid": g, "domain": "alice", "type": "vbd",
                        "devid": 51728, "backend_domid": 0, "detached": True}
    assert gone(cli, g, "vbd", 51728)
    assert cli.json("block-list", "alice") == []


@root_only
def test_legacy_spec_attaches_read_only(cli):
    g = int(cli.host.sim("domain-create", "bob").stdout)
    loop = cli.loop()
    proc = cli("block-attach", "bob", f"phy:{loop},xvdc,r", "script=ok")
    assert proc.stdout.startswith("attached vbd xvdc (devid 51744) to bob")
    be = f"/local/domain/0/backend/vbd/{g}/51744"
    assert cli.read(f"{be}/params") == loop
    assert cli.read(f"{be}/mode") == "r"
    assert cli.read(f"{be}/dev") == "xvdc"
    cli("block-detach", "bob", "51744")
    assert gone(cli, g, "vbd", 51744)


@root_only
def test_network_attach_list_detach(cli):
    g = int(cli.host.sim("domain-create", "carol").stdout)
    out = cli.json("network-attach", str(g), "mac=00:16:3E:0A:0B:0C",
                   "bridge=br7", "mtu=9000", "script=ok", "-w")
    assert out == expected(cli, g, "carol", "vif", 0)
    assert out["mac"] == "00:16:3e:0a:0b:0c"
    assert out["bridge"] == "br7" and out["mtu"] == 9000
    assert out["backend_state_name"] == "Connected"
    second = cli.json("network-attach", "carol", "script=ok")
    assert second["devid"] == 1 and second["mac"].startswith("00:16:3e:")
    assert cli.json("network-list", "carol") == [
        expected(cli, g, "carol", "vif", 0),
        expected(cli, g, "carol", "vif", 1)]
    table = cli("network-list", "carol").stdout.splitlines()
    assert table[0].split()[:3] == ["Idx", "BE", "Mac"]
    assert table[1].split()[:3] == ["0", "0", "00:16:3e:0a:0b:0c"]
    # by MAC, in any case
    cli("network-detach", "carol", "00:16:3E:0A:0B:0C")
    assert gone(cli, g, "vif", 0)
    cli("network-detach", "carol", "1", "--force")
    assert gone(cli, g, "vif", 1)


def test_bad_specs_leave_the_store_untouched(cli):
    cli.host.sim("domain-create", "dave")
    before = cli.dump()
    for spec, message in BAD_DISK_SPECS[:8]:
        proc = cli("block-attach", "dave", spec, code=EXIT_USAGE)
        assert message in proc.stderr
    for spec, message in BAD_NIC_SPECS[:4]:
        cli("network-attach", "dave", spec, code=EXIT_USAGE)
    # a format blkback cannot serve: parsed as xl does, refused by the add
    for spec in ("qcow2:/srv/a.qcow2,xvdb,w", "/srv/a.vhd,vhd,xvdb"):
        proc = cli("block-attach", "dave", spec, code=EXIT_USAGE)
        assert "blkback serves raw images and block devices only" \
            in proc.stderr, proc.stderr
    assert cli.dump() == before


def test_not_found(cli):
    g = int(cli.host.sim("domain-create", "erin").stdout)
    before = cli.dump()
    proc = cli("block-attach", "nobody", "/dev/x,,xvdb", code=EXIT_NOT_FOUND)
    assert "no domain 'nobody'" in proc.stderr
    cli("block-attach", "31000", "/dev/x,,xvdb", code=EXIT_NOT_FOUND)
    proc = cli("block-detach", "erin", "xvdz", code=EXIT_NOT_FOUND)
    assert "no disk 'xvdz' on domain erin" in proc.stderr
    assert "block-list" in proc.stderr
    cli("network-detach", "erin", "00:16:3e:00:00:09", code=EXIT_NOT_FOUND)
    cli("block-attach", "erin", "/dev/x,,xvdb,w,backend=nobody",
        "--hotplug", "none", code=EXIT_NOT_FOUND)
    assert cli.dump() == before
    # a listing reports the unknown domain and lists the others
    proc = cli("-j", "block-list", "nobody", "erin", code=EXIT_NOT_FOUND)
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["results"] == []
    assert out["error"]["name"] == "XDEV_E_DOMAIN_NOT_FOUND"
    assert "nobody" in out["error"]["message"] and "nobody" in proc.stderr
    assert g


def wait_readable(path, timeout=20):
    """A line from the FIFO PATH, within TIMEOUT seconds."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"nothing on {path} within {timeout} s"
        return os.read(fd, 64).decode()
    finally:
        os.close(fd)


def gated(cli, tmp_path):
    """The gate script's FIFOs (tests/hotplug/gate) in TMP_PATH/gate, the
    scripts' record file, and the environment that records into it; the
    gate itself is armed only in the environment of the command to hold."""
    gate = tmp_path / "gate"
    gate.mkdir()
    os.mkfifo(gate / "started")
    os.mkfifo(gate / "open")
    record = tmp_path / "record"
    return gate, record, dict(cli.env, XDEV_TEST_RECORD=str(record))


def test_recover_rolls_back_an_attach_whose_xdev_was_killed(cli, tmp_path):
    """kill -9 of `xdev block-attach` while its add script runs leaves the
    device half added: block-list says so, `xdev recover` reports it (a dry
    run by default) and with --apply rolls it back; the remove script runs
    once, and the store is as it was.  Before, nothing said anything was
    half done, and nothing found such devices."""
    cli.host.sim("domain-create", "kim")
    loop = cli.loop()
    gate, record, env = gated(cli, tmp_path)
    before = cli.dump()
    proc = subprocess.Popen(
        cli.cmd("block-attach", "kim", f"phy:{loop},xvdb,w", "script=gate"),
        env=dict(env, XDEV_TEST_GATE=str(gate), XDEV_TEST_GATE_ON="add"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_readable(gate / "started") == "add\n"
        xdev = int(run(["pgrep", "-P", str(proc.pid)]).stdout.split()[0])
        os.kill(xdev, signal.SIGKILL)
    finally:
        proc.wait()
    [dev] = cli.json("block-list", "kim")
    assert dev["operation"] == {"op": "add", "pid": xdev, "alive": False}
    proc = cli("block-list", "kim")
    assert f"half added: process {xdev} died" in proc.stdout
    proc = cli("block-attach", "kim", f"phy:{loop},xvdb,w", "script=gate",
               code=EXIT_EXISTS, env=env)
    assert f"left half added by process {xdev}, which died" in proc.stderr
    found = json.loads(cli("-j", "recover", env=env).stdout)
    assert [(d["devid"], d["interrupted"], d["owner_pid"], d["action"])
            for d in found] == [(51728, "add", xdev, None)]
    assert cli.json("block-list", "kim")[0]["operation"]["alive"] is False
    found = json.loads(cli("-j", "recover", "--apply", "kim", env=env).stdout)
    assert [(d["interrupted"], d["action"], d["result"]) for d in found] == \
        [("add", "rolled back", "ok")]
    assert cli.json("block-list", "kim") == []
    assert record.read_text().count("remove ") == 1, record.read_text()
    assert "add " not in record.read_text()
    assert cli.dump() == before
    assert "nothing interrupted" in cli("recover").stdout
    cli("recover", "--apply", "-n", code=EXIT_USAGE)


def test_two_attaches_of_one_disk_at_once(cli, tmp_path):
    """Two operators attach the same disk at once: the second is refused
    as existing, naming the first's process, and changes nothing; the
    first ends attached, its add script run once."""
    cli.host.sim("domain-create", "mo")
    loop = cli.loop()
    gate, record, env = gated(cli, tmp_path)
    spec = (f"phy:{loop},xvdb,w", "script=gate")
    first = subprocess.Popen(
        cli.cmd("block-attach", "mo", *spec),
        env=dict(env, XDEV_TEST_GATE=str(gate), XDEV_TEST_GATE_ON="add"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_readable(gate / "started") == "add\n"
        xdev = int(run(["pgrep", "-P", str(first.pid)]).stdout.split()[0])
        during = cli.dump()
        proc = cli("block-attach", "mo", *spec, code=EXIT_EXISTS, env=env)
        assert f"being added by another xdev actor (process {xdev})" in \
            proc.stderr, proc.stderr
        assert cli.dump() == during
        with open(gate / "open", "w") as f:
            f.write("go\n")
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    [dev] = cli.json("block-list", "mo")
    assert dev["operation"] is None and dev["backend_state"] == 4
    assert record.read_text().count("add ") == 1, record.read_text()
    cli("-q", "block-detach", "mo", "xvdb", env=env)


def test_two_detaches_at_once_one_is_busy(cli, tmp_path):
    """Two operators detach the same disk at once: the second is refused
    (exit 1, naming the first's process) while the first's remove script
    runs, which runs once."""
    cli.host.sim("domain-create", "lou")
    loop = cli.loop()
    gate, record, env = gated(cli, tmp_path)
    cli("block-attach", "lou", f"phy:{loop},xvdb,w", "script=gate", env=env)
    first = subprocess.Popen(
        cli.cmd("block-detach", "lou", "xvdb"),
        env=dict(env, XDEV_TEST_GATE=str(gate), XDEV_TEST_GATE_ON="remove"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_readable(gate / "started") == "remove\n"
        xdev = int(run(["pgrep", "-P", str(first.pid)]).stdout.split()[0])
        [dev] = cli.json("block-list", "lou")
        assert dev["operation"] == {"op": "remove", "pid": xdev,
                                    "alive": True}
        proc = cli("block-detach", "lou", "xvdb", code=EXIT_BUSY, env=env)
        assert f"being removed by another xdev actor (process {xdev})" in \
            proc.stderr, proc.stderr
        with open(gate / "open", "w") as f:
            f.write("go\n")
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert cli.json("block-list", "lou") == []
    assert record.read_text().count("remove ") == 1, record.read_text()


def test_device_exists(cli):
    g = int(cli.host.sim("domain-create", "fay").stdout)
    cli("block-attach", "--hotplug", "none", "fay", "/dev/xdev-test,,xvdb")
    # the guest's frontend goes on after the attach: its event channel
    # and ring are written before it says Initialised
    cli.host.sim("wait", f"/local/domain/{g}/device/vbd/51728/state", "3")
    before = cli.dump()
    proc = cli("block-attach", "--hotplug", "none", "fay",
               "/dev/other,,xvdb", code=EXIT_EXISTS)
    assert "exists" in proc.stderr and "detach it first" in proc.stderr
    assert cli.dump() == before
    cli("-q", "block-detach", "fay", "xvdb")
    assert gone(cli, g, "vbd", 51728)


def test_hotplug_failure_is_reported_and_undone(cli):
    g = int(cli.host.sim("domain-create", "gil").stdout)
    proc = cli("block-attach", "gil", "vdev=xvdb,script=fail,target=/dev/x",
               code=EXIT_HOTPLUG)
    assert "the test script fails on purpose" in proc.stderr
    assert "hotplug script failed" in proc.stderr
    assert gone(cli, g, "vbd", 51728)


def test_attach_times_out_and_cleans_up(cli):
    g = int(cli.host.sim("domain-create", "hal").stdout)
    cli.host.sim("fault", "0", "backend-unresponsive")
    t0 = time.monotonic()
    proc = cli("block-attach", "--timeout", "0.5", "--hotplug", "none",
               "hal", "/dev/x,,xvdb", code=EXIT_TIMEOUT)
    assert time.monotonic() - t0 < 10
    assert "timed out" in proc.stderr.lower()
    assert "raise --timeout" in proc.stderr
    assert gone(cli, g, "vbd", 51728)


def test_safe_detach_of_a_refusing_guest(cli):
    g = int(cli.host.sim("domain-create", "ida").stdout)
    cli("block-attach", "--hotplug", "none", "ida", "/dev/x,,xvdb")
    fe = f"/local/domain/{g}/device/vbd/51728"
    cli.host.sim("wait", f"{fe}/state", "3")
    cli.host.sim("fault", "ida", "frontend-refuse-close")
    proc = cli("block-detach", "--safe", "--remove-timeout", "5", "ida",
               "xvdb", code=EXIT_REFUSED)
    assert "Device in use" in proc.stderr and "umount" in proc.stderr
    be = f"/local/domain/0/backend/vbd/{g}/51728"
    assert cli.read(f"{be}/online") == "1"     # restored
    # block-detach's default is xl's: safe, so refused as well
    proc = cli("block-detach", "--remove-timeout", "5", "ida", "xvdb",
               code=EXIT_REFUSED)
    assert "detach with --force" in proc.stderr
    assert cli.read(f"{be}/online") == "1"
    # --auto (libxl_device_disk_remove's mode) forces it past the timeout
    cli("block-detach", "--auto", "--remove-timeout", "0.5", "ida", "xvdb")
    assert gone(cli, g, "vbd", 51728)


def test_safe_detach_times_out_and_restores(cli):
    g = int(cli.host.sim("domain-create", "jon").stdout)
    cli("block-attach", "--hotplug", "none", "jon", "/dev/x,,xvdb")
    cli.host.sim("fault", "jon", "frontend-unresponsive")
    cli("block-detach", "--safe", "--timeout", "0.3", "jon", "xvdb",
        code=EXIT_TIMEOUT)
    assert cli.read(f"/local/domain/0/backend/vbd/{g}/51728/online") == "1"
    cli("block-detach", "--force", "jon", "xvdb")
    assert gone(cli, g, "vbd", 51728)


def test_quiet_and_verbose(cli):
    cli.host.sim("domain-create", "kim")
    proc = cli("-q", "block-attach", "--hotplug", "none", "kim",
               "/dev/x,,xvdb")
    assert proc.stdout == "" and proc.stderr == ""
    # -v: what went wrong (a failed operation's result, scripts' output)
    proc = cli("-v", "block-attach", "kim", "script=fail,vdev=xvdc,"
               "target=/dev/x", code=EXIT_HOTPLUG)
    assert "xdev: [info]" in proc.stderr and "[debug]" not in proc.stderr
    # -vv: every step
    proc = cli("-vv", "block-detach", "kim", "xvdb")
    assert "xdev: [debug]" in proc.stderr
    assert proc.stdout.startswith("detached vbd 51728")


def test_status_line_only_on_a_terminal(cli):
    cli.host.sim("domain-create", "lee")
    cli.host.sim("fault", "0", "slow=400")
    # without a terminal: no control characters anywhere
    proc = cli("block-attach", "--hotplug", "none", "lee", "/dev/x,,xvdb")
    assert "\x1b" not in proc.stderr + proc.stdout
    assert "\r" not in proc.stderr + proc.stdout
    # on a terminal: the line, redrawn in place, then erased
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    try:
        p = subprocess.run(cli.cmd("block-detach", "lee", "xvdb"),
                           env=cli.env, stdout=subprocess.PIPE,
                           stderr=slave, text=True, timeout=60)
        os.close(slave)
        slave = None
        err = b""
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0
    err = err.decode()
    assert "waiting for the backend to close" in err
    assert "s/10 s]" in err                   # elapsed, against the timeout
    assert err.endswith("\r\x1b[K")            # erased before the result
    assert p.stdout.startswith("detached vbd 51728")


def test_detach_after_the_guest_is_destroyed(cli):
    """A destroyed guest's devices that its toolstack did not record stay
    in the backend (xl destroy removes only libxl's): detach by domain id
    finds them from the backends' side, in every mode, and leaves the
    store as a guest without devices leaves it."""
    cli.host.sim("domain-create", "tmp")
    cli.host.sim("domain-destroy", "tmp")   # leaves an empty /vm
    base = cli.dump()
    g = int(cli.host.sim("domain-create", "rob").stdout)
    cli("block-attach", "--hotplug", "none", "rob", "/dev/x,,xvdb")
    cli("network-attach", "rob", "script=ok", "mac=00:16:3e:00:00:51", "-w")
    cli("network-attach", "rob", "script=ok", "-w")
    cli.host.sim("domain-destroy", "rob")
    assert not cli.exists(f"/local/domain/{g}")
    for kind, devid in (("vbd", 51728), ("vif", 0), ("vif", 1)):
        be = f"/local/domain/0/backend/{kind}/{g}/{devid}"
        assert cli.read(f"{be}/online") == "1", be
        assert cli.read(f"/xdev/{g}/{kind}/{devid}") == be
    # the name went with the domain: the id, with a precise message
    proc = cli("block-detach", "rob", "xvdb", code=EXIT_NOT_FOUND)
    assert "no domain 'rob'" in proc.stderr
    assert "a destroyed domain's devices are detached by its domain id" \
        in proc.stderr
    # by vdev (the backend's dev), default mode
    proc = cli("block-detach", str(g), "xvdb")
    assert proc.stdout == f"detached vbd 51728 from domain {g} (gone)\n"
    assert gone(cli, g, "vbd", 51728)
    # by MAC (the backend's mac, any case), --safe: nothing can answer
    proc = cli("network-detach", "--safe", str(g), "00:16:3E:00:00:51")
    assert proc.stdout == f"detached vif 0 from domain {g} (gone)\n"
    assert gone(cli, g, "vif", 0)
    # by devid, --force, JSON: the domain has no name any more
    assert cli.json("network-detach", "--force", str(g), "1") == {
        "domid": g, "domain": None, "type": "vif", "devid": 1,
        "backend_domid": 0, "detached": True}
    assert gone(cli, g, "vif", 1)
    # nothing of the guest is left, not even an empty directory
    assert cli.dump() == base
    proc = cli("network-detach", str(g), "1", code=EXIT_NOT_FOUND)
    assert proc.stderr == (
        f"xdev: no network device '1' of domain {g}: the domain is gone, "
        f"and neither a backend (/local/domain/*/backend/vif/{g}/1) nor an "
        f"xdev record (/xdev/{g}/vif/1) of it is left\n")
    cli("block-detach", str(g), "xvdb", code=EXIT_NOT_FOUND)


def test_detach_finds_a_device_by_its_backend_or_record(cli):
    """A frontend directory deleted under a live guest, or everything but
    xdev's record: detach still finds the device and cleans it up."""
    g = int(cli.host.sim("domain-create", "sam").stdout)
    before = cli.dump()
    cli("block-attach", "--hotplug", "none", "sam", "/dev/x,,xvdb")
    cli("network-attach", "--hotplug", "none", "sam")
    cli.host.xs("xenstore-rm", f"/local/domain/{g}/device/vbd/51728")
    proc = cli("block-detach", "sam", "xvdb")
    assert proc.stdout == f"detached vbd 51728 from sam ({g})\n"
    assert gone(cli, g, "vbd", 51728)
    # only the record left: found by devid, the record removed
    cli.host.xs("xenstore-rm", f"/local/domain/{g}/device/vif/0")
    cli.host.xs("xenstore-rm", f"/local/domain/0/backend/vif/{g}/0")
    assert cli.exists(f"/xdev/{g}/vif/0")
    cli("network-detach", "--safe", str(g), "0")
    assert gone(cli, g, "vif", 0)
    assert cli.dump() == before


# ---- monitor -------------------------------------------------------------------

class Monitor:
    """`xdev -j monitor` in the background, read line by line."""

    def __init__(self, cli, *args, prefix=()):
        self.proc = subprocess.Popen(cli.cmd("-j", "monitor", *args,
                                             prefix=prefix),
                                     env=cli.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.buf = ""

    def next(self, timeout=20, waiting_for="an event", seen=()):
        deadline = time.monotonic() + timeout
        while "\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, (f"no event in {timeout} s waiting for "
                              f"{waiting_for}; seen {list(seen)}; "
                              f"partial line {self.buf!r}")
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536).decode()
                assert chunk, "monitor ended: " + self.proc.stderr.read()
                self.buf += chunk
        line, self.buf = self.buf.split("\n", 1)
        return json.loads(line)

    def until(self, pred, timeout=20):
        """Events up to the first PRED accepts; a failure names PRED."""
        seen = []
        while True:
            ev = self.next(timeout, getattr(pred, "__doc__", None)
                           or repr(pred), seen)
            seen.append(ev)
            if pred(ev):
                return seen

    def xdev_pid(self):
        """xdev itself: xdev-sim exec forwards no signal."""
        return int(run(["pgrep", "-P", str(self.proc.pid)]).stdout.split()[0])

    def pause(self):
        """Stop xdev so that events pile up."""
        os.kill(self.xdev_pid(), signal.SIGSTOP)

    def resume(self):
        os.kill(self.xdev_pid(), signal.SIGCONT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def interrupt_monitor(mon):
    os.kill(mon.xdev_pid(), signal.SIGINT)
    rc = mon.proc.wait(timeout=20)
    mon.proc.stdout.close()
    mon.proc.stderr.close()
    return rc


def is_(event, **kw):
    def pred(ev):
        return ev["event"] == event and all(ev.get(k) == v
                                            for k, v in kw.items())
    pred.__doc__ = f"event {event!r} with {kw}"
    return pred


def connected_vif(ev):
    """a vif event that shows its backend Connected"""
    return ev["type"] == "vif" and ev["backend_state_name"] == "Connected"


def vif_removed(ev):
    """event 'removed' of the vif"""
    return ev["event"] == "removed" and ev["type"] == "vif"


def test_monitor_streams_device_events(cli):
    g = int(cli.host.sim("domain-create", "mia").stdout)
    cli("block-attach", "--hotplug", "none", "mia", "/dev/x,,xvda")
    mon = Monitor(cli, "mia")
    try:
        present = mon.until(is_("monitoring"))
        assert present[0]["event"] == "present"
        assert present[0]["devid"] == 51712 and present[0]["domid"] == g
        assert present[-1]["domids"] == [g]
        cli("network-attach", "mia", "script=ok", "-w")
        # the states in between only if the monitor saw them happen
        seen = mon.until(connected_vif)
        assert seen[0]["event"] == "added" and seen[0]["type"] == "vif"
        assert all(ev["domain"] == "mia" for ev in seen)
        cli("network-detach", "mia", "0")
        seen = mon.until(vif_removed)
        assert [ev for ev in seen if ev["event"] == "gone"] == []
        states = [ev["backend_state"] for ev in seen if ev["type"] == "vif"]
        assert states == sorted(states), seen  # Closing, Closed, never back
        cli.host.sim("domain-destroy", "mia")
        seen = mon.until(is_("domain-gone"))
        assert any(ev["event"] == "removed" and ev["devid"] == 51712
                   for ev in seen)
        assert interrupt_monitor(mon) == 0
    finally:
        mon.kill()


def test_monitor_that_falls_behind_reports_what_it_finds(cli):
    """A monitor stopped while things happen (as on a busy machine) prints
    the states it finds when it resumes, and tells a detach ("removed")
    from a backend domain's death ("gone") without having seen the states
    in between."""
    cli.host.sim("domain-create", "--driver-domain", "drv")
    cli.host.sim("domain-create", "mia")
    mon = Monitor(cli, "mia")
    try:
        mon.until(is_("monitoring"))
        mon.pause()
        cli("network-attach", "mia", "script=ok", "-w")
        mon.resume()
        seen = mon.until(connected_vif)
        assert [ev["event"] for ev in seen] == ["added"], seen
        mon.pause()
        cli("network-detach", "mia", "0")
        mon.resume()
        seen = mon.until(vif_removed)
        assert [ev for ev in seen if ev["event"] == "gone"] == [], seen
        cli("block-attach", "--hotplug", "none", "mia",
            "vdev=xvdb,backend=drv,target=/dev/x")
        mon.until(is_("added", devid=51728))
        mon.pause()
        cli.host.sim("domain-destroy", "drv")
        mon.resume()
        seen = mon.until(lambda ev: ev["event"] in ("gone", "removed")
                         and ev.get("devid") == 51728)
        assert seen[-1]["event"] == "gone", seen
        assert interrupt_monitor(mon) == 0
    finally:
        mon.kill()


def test_monitor_reports_a_vanished_backend(cli):
    """A driver domain dies: DEVICE_GONE, printed as "gone"."""
    cli.host.sim("domain-create", "--driver-domain", "drv")
    g = int(cli.host.sim("domain-create", "ned").stdout)
    mon = Monitor(cli)          # every domain, new ones included
    try:
        mon.until(is_("monitoring"))
        cli("block-attach", "--hotplug", "none", "ned",
            "vdev=xvdb,backend=drv,target=/dev/x")
        mon.until(is_("added", domid=g, devid=51728))
        cli.host.sim("domain-destroy", "drv")
        seen = mon.until(lambda ev: ev["event"] in ("gone", "removed")
                         and ev.get("devid") == 51728)
        assert seen[-1]["event"] == "gone"
        later = int(cli.host.sim("domain-create", "oli").stdout)
        cli("network-attach", "--hotplug", "none", "oli")
        mon.until(is_("added", domid=later, type="vif"))
        assert interrupt_monitor(mon) == 0
    finally:
        mon.kill()


# ---- memory -------------------------------------------------------------------

VALGRIND = shutil.which("valgrind")


@pytest.mark.skipif(not VALGRIND, reason="valgrind not installed")
@pytest.mark.skipif(SANITIZED, reason="a sanitizer build: ASan checks "
                    "every command instead (make check-sanitizers)")
def test_valgrind_clean(cli):
    """Every command once under valgrind: no error, no leak."""
    vg = [VALGRIND, "-q", "--leak-check=full", "--show-leak-kinds=definite",
          "--errors-for-leak-kinds=definite", "--error-exitcode=99",
          os.path.join(BUILDDIR, "bin", ".libs", "xdev")]
    env = dict(cli.env, LD_LIBRARY_PATH=os.path.join(BUILDDIR, "lib", ".libs"))
    cli.host.sim("domain-create", "pam")

    def vrun(*args, code=0):
        proc = run([XDEV_SIM, "exec", "--"] + vg + list(args), env=env,
                   check=False)
        assert proc.returncode == code, proc.stderr
        return proc

    vrun("block-attach", "-j", "--hotplug", "none", "pam",
         "format=raw, vdev=xvdb, target=/dev/x")
    vrun("network-attach", "--hotplug", "none", "pam", "mtu=1500")
    vrun("block-list", "-j", "pam")
    vrun("network-list", "pam", "nobody", code=EXIT_NOT_FOUND)
    vrun("block-attach", "pam", "/dev/x,,xvdb,w,extra", code=EXIT_USAGE)
    vrun("block-attach", "-n", "pam", "tap:aio:/srv/x,xvdc,r")
    vrun("network-detach", "pam", "0")
    vrun("block-detach", "--force", "pam", "xvdb")
    mon = subprocess.Popen([XDEV_SIM, "exec", "--"] + vg + ["-j", "monitor"],
                           env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    wrapped = Monitor.__new__(Monitor)
    wrapped.proc, wrapped.buf = mon, ""
    try:
        wrapped.until(is_("monitoring"), timeout=60)
        vrun("network-attach", "--hotplug", "none", "pam")
        wrapped.until(is_("added", type="vif"), timeout=60)
        assert interrupt_monitor(wrapped) == 0, mon.stderr
    finally:
        wrapped.kill()


# ---- bash completion ------------------------------------------------------------

COMPLETION = os.path.join(SRCDIR, "bin", "completion", "xdev")


def complete(line, env=None):
    """What bash completes for LINE (the cursor at its end)."""
    words = line.split(" ")
    script = (f"source {COMPLETION}; COMP_WORDS=({' '.join(map(repr, words))}); "
              f"COMP_CWORD={len(words) - 1}; _xdev; "
              'printf "%s\\n" "${COMPREPLY[@]}"')
    return run(["bash", "-c", script], env=env).stdout.split()


def test_bash_completion(cli):
    g = int(cli.host.sim("domain-create", "quinn").stdout)
    assert complete("xdev block-") == ["block-attach", "block-detach",
                                       "block-list"]
    assert complete("xdev block-detach --s") == ["--safe"]
    assert "--dry-run" in complete("xdev block-attach --")
    assert "--force" not in complete("xdev block-attach --")
    assert complete("xdev --hotplug e") == ["external"]
    assert complete("xdev block-list qu", env=cli.host.env) == ["quinn"]
    cli("network-attach", "--hotplug", "none", "quinn",
        "mac=00:16:3e:00:00:42")
    assert complete("xdev network-detach quinn ", env=cli.host.env) == [
        "0", "00:16:3e:00:00:42"]
    assert g


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="the demo's network devices are real taps")
def test_the_demo_uses_the_cli():
    out = run(["bash", os.path.join(SRCDIR, "tests", "demo.sh"),
               BUILDDIR]).stdout
    assert "attached vif 00:16:3e:00:00:02 (devid 0) to alice" in out
    assert '"backend_state_name": "Connected"' in out
    assert "vdev=xvdb format=raw access=w devtype=disk (dry run" in out
    assert "detached vif 0 from alice" in out
    assert "a bad spec is refused (exit 2)" in out
