"""Never trust what a guest or a driver domain writes (issue 16).

A guest owns its frontend directory (`backend`, `backend-id`, `mac`,
`state`, its error nodes) and may delete it; a driver domain owns its
backend directory (`state`, `hotplug-status`, `hotplug-error`).  Each test
has a peer write what it likes there, as it can on a real host (the guest
through its own ring, `xdev-sim guest`; the driver domain through its
xenbus, `xdev-sim exec --domain`), runs the `xdev` CLI as an operator
does, and checks the real store, the host's loop devices and the hotplug
scripts' record:

- a forged `backend`, `mac` or `backend-id` never redirects a detach to
  another device, nor orphans the real backend, nor makes a read-only
  monitor delete anything;
- a frontend deleted while the add script runs fails the attach and
  leaves nothing; the message does not say the guest died;
- a driver domain rewriting its backend's state cannot make a detach
  fail as a store failure: --force goes through, --safe names the cause;
- a peer's text is escaped before it reaches a terminal;
- a state that is not a xenbus state is "not yet", never a wrapped or
  negative number;
- a target with a '..' component is refused before anything is written;
- the remove script is the one the add ran, and its failure keeps the
  backend and the record for the next detach.

Every test runs on both daemons and ends by checking that no device node,
no loop device on its images and nothing of the host is left.
"""
import glob
import json
import os
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import SRCDIR, XDEV_SIM, run
from test_cli import (EXIT_BUSY, EXIT_FAILED, EXIT_HOTPLUG, EXIT_REFUSED,
                      EXIT_TIMEOUT, EXIT_USAGE, TEST_SCRIPTS, Cli, Monitor,
                      gone, interrupt_monitor, is_)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="loop devices and the devices' taps need root")

BLOCK = os.path.join(SRCDIR, "hotplug", "block")
VBD_B, VBD_C = 51728, 51744            # xvdb, xvdc
# a guest's or driver domain's text that clears the screen and forges a
# line of xdev's output
FORGED = "\x1b[2J\nxdev: detached vbd 1 from forged"
FORGED_WORDS = "detached vbd 1 from forged"

# The real block script, plus a line "<action> <XENBUS_PATH> <status>" in
# $XDEV_TEST_RECORD: its loop devices are real, its runs visible.
BLOCK_RECORDING = f"""#!/bin/bash
set -u
"{BLOCK}" "$@"
rc=$?
printf '%s %s %s\\n' "$1" "$XENBUS_PATH" "$rc" >>"$XDEV_TEST_RECORD"
exit $rc
"""


def paths(g, kind, devid, be_domid=0):
    """(frontend, backend, record) directories of a device."""
    return (f"/local/domain/{g}/device/{kind}/{devid}",
            f"/local/domain/{be_domid}/backend/{kind}/{g}/{devid}",
            f"/xdev/{g}/{kind}/{devid}")


def loops_of(image, timeout=30.0):
    """The loop devices backed by IMAGE, from sysfs (opening the devices,
    as `losetup --associated` does, would hold them for a moment).  One
    detached while open (autoclear 1) is waited for, at most TIMEOUT s:
    whoever detached it is done with it, and the kernel clears it at the
    last close, which may be a parallel test's losetup probing for a free
    device.  sysfs tells no one: looked at every 10 ms."""
    deadline = time.monotonic() + timeout
    while True:
        found, closing = [], False
        for f in glob.glob("/sys/block/loop*/loop/backing_file"):
            try:
                with open(f) as fh:
                    backing = fh.read().strip()
                if backing not in (str(image), f"{image} (deleted)"):
                    continue
                with open(f.replace("backing_file", "autoclear")) as fh:
                    closing |= fh.read().strip() == "1"
            except OSError:
                continue
            found.append("/dev/" + f.split("/")[3])
        if not closing or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(0.01)


def wait_for(cond, what, timeout=20.0):
    """Until COND() is true (its value is returned), looked at every 10 ms
    for at most TIMEOUT seconds: for what no watch can tell (a process's
    end, a FIFO's reader, a loop device)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}, in vain")
        time.sleep(0.01)


class Hostile(Cli):
    """Cli, plus images for the real block script, the scripts' record,
    hotplug directories of the test's own, and background processes."""

    def __init__(self, host, tmp_path):
        super().__init__(host, tmp_path)
        self.images = []
        self.procs = []                # xdev in the background
        self.helpers = []              # the test's own (process groups)
        self.record = tmp_path / "record"
        self.hpdir = self.script_dir(
            "hotplug", ok=os.path.join(TEST_SCRIPTS, "ok"),
            gate=os.path.join(TEST_SCRIPTS, "gate"), block=BLOCK)
        self.env.update(XDEV_HOTPLUG_DIR=str(self.hpdir),
                        XDEV_TEST_RECORD=str(self.record),
                        XDEV_HOTPLUG_LOCK_DIR=str(tmp_path / "lock"))

    # -- the host
    def domain(self, name, *flags):
        return int(self.host.sim("domain-create", *flags, name).stdout)

    def guest(self, name, *args, check=True):
        """NAME's kernel acting on its own nodes (relative paths)."""
        return self.host.sim("guest", name, *args, check=check)

    def inside(self, domain, *cmd, check=True):
        """CMD run by driver domain DOMAIN (relative paths are its own)."""
        return self.host.sim("exec", "--domain", domain, "--", *cmd,
                             check=check)

    def wait(self, path, value, timeout=10):
        """Until PATH reads VALUE: a watch (xdev-sim wait)."""
        proc = self.host.sim("wait", "--timeout", str(timeout), path, value,
                             check=False)
        assert proc.returncode == 0, proc.stderr

    def raw(self, path):
        proc = self.host.xs("xenstore-read", "-R", "--", path, check=False)
        return proc.stdout if proc.returncode == 0 else None

    def ls(self, path):
        proc = self.host.xs("xenstore-list", "--", path, check=False)
        return proc.stdout.split() if proc.returncode == 0 else []

    def devices_left(self):
        """Every device node in the store: xdev's records, any domain's
        backend and frontend device directories."""
        left = ["/xdev"] if self.exists("/xdev") else []
        for d in self.ls("/local/domain"):
            for kind in ("vbd", "vif"):
                for side in ("backend", "device"):
                    base = f"/local/domain/{d}/{side}/{kind}"
                    left += [f"{base}/{x}" for x in self.ls(base)]
        return left

    def assert_clean(self):
        """No device node in the store, no loop device on the images."""
        assert self.devices_left() == []
        assert {str(i): loops_of(i) for i in self.images if loops_of(i)} \
            == {}

    # -- scripts and images
    def script_dir(self, name, **scripts):
        """A hotplug directory: NAME=path is a link to a script, NAME=text
        (starting with #!) a script of its own."""
        d = self.tmp / name
        d.mkdir()
        for script, what in scripts.items():
            if what.startswith("#!"):
                (d / script).write_text(what)
                os.chmod(d / script, 0o755)
            else:
                os.symlink(what, d / script)
        return d

    def records(self):
        try:
            return self.record.read_text().splitlines()
        except FileNotFoundError:
            return []

    def image(self):
        """A 4 MiB image file, for the block script to attach."""
        path = self.tmp / f"image{len(self.images)}.img"
        with open(path, "wb") as f:
            f.truncate(4 << 20)
        self.images.append(path)
        return path

    # -- xdev in the background
    def start(self, *args, env=None):
        proc = subprocess.Popen(self.cmd(*args),
                                env=dict(self.env, **(env or {})),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def spawn(self, args):
        """A helper process of the test's own (its own process group)."""
        proc = subprocess.Popen(args, env=self.host.env,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.helpers.append(proc)
        return proc

    def end(self, helper):
        """Stop a helper and whatever it started (its process group)."""
        if helper.poll() is None:
            try:
                os.killpg(helper.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        helper.wait(timeout=30)

    def close(self):
        """Stop what the test left running; release its own loop devices
        (Cli.loop) and any still on its images (a test that ended early:
        one that ran to its end checked there were none)."""
        for helper in self.helpers:
            self.end(helper)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
        super().close()
        for image in self.images:
            for loop in loops_of(image):
                run(["losetup", "--detach", loop], check=False)


@pytest.fixture
def hx(host, tmp_path):
    h = Hostile(host, tmp_path)
    try:
        yield h
    finally:
        h.close()


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def lines(*texts):
    return [line for text in texts for line in re.split(r"[\r\n]", text)]


# ---- 1. a forged backend or mac never redirects a detach ------------------------

def test_misdirected_block_detach_removes_the_named_disk(hx):
    """alice points xvdb's frontend `backend` at xvdc's backend: detaching
    xvdc removes xvdc, and xvdb stays as it was, loop device included."""
    g = hx.domain("alice")
    img_b, img_c = hx.image(), hx.image()
    hx("block-attach", "-w", "alice", f"vdev=xvdb,script=block,target={img_b}")
    hx("block-attach", "-w", "alice", f"vdev=xvdc,script=block,target={img_c}")
    fe_b, be_b, rec_b = paths(g, "vbd", VBD_B)
    _, be_c, _ = paths(g, "vbd", VBD_C)
    [loop_b] = loops_of(img_b)
    assert len(loops_of(img_c)) == 1
    hx.guest("alice", "write", f"device/vbd/{VBD_B}/backend", be_c)
    assert hx.read(f"{fe_b}/backend") == be_c

    proc = hx("block-detach", "alice", "xvdc")
    assert proc.stdout == f"detached vbd {VBD_C} from alice ({g})\n"
    assert gone(hx, g, "vbd", VBD_C)
    assert loops_of(img_c) == []          # its remove script ran
    # xvdb: untouched
    assert hx.exists(fe_b) and hx.exists(rec_b)
    assert hx.read(f"{be_b}/online") == "1"
    assert hx.read(f"{be_b}/state") == "4"
    assert hx.read(f"{be_b}/params") == str(img_b)
    assert loops_of(img_b) == [loop_b]

    # named by its vdev, xvdb is still xvdb
    proc = hx("block-detach", "alice", "xvdb")
    assert proc.stdout == f"detached vbd {VBD_B} from alice ({g})\n"
    assert gone(hx, g, "vbd", VBD_B)
    assert loops_of(img_b) == []
    hx.assert_clean()


def test_misdirected_network_detach_removes_the_named_nic(hx):
    """alice copies NIC 1's MAC into NIC 0's frontend `mac`: detaching by
    NIC 1's MAC removes NIC 1; NIC 0 stays, and its own MAC still names
    it."""
    g = hx.domain("alice")
    macs = ["00:16:3e:00:00:10", "00:16:3e:00:00:11"]
    for mac in macs:
        hx("network-attach", "-w", "alice", "script=ok", f"mac={mac}")
    fe0, be0, rec0 = paths(g, "vif", 0)
    _, be1, _ = paths(g, "vif", 1)
    hx.guest("alice", "write", "device/vif/0/mac", macs[1])
    assert hx.read(f"{fe0}/mac") == macs[1]

    proc = hx("network-detach", "alice", macs[1])
    assert proc.stdout == f"detached vif 1 from alice ({g})\n"
    assert gone(hx, g, "vif", 1)
    assert f"offline {be1} backend-present" in hx.records()
    # NIC 0: untouched
    assert hx.exists(fe0) and hx.exists(rec0)
    assert hx.read(f"{be0}/online") == "1"
    assert hx.read(f"{be0}/state") == "4"
    assert hx.read(f"{be0}/mac") == macs[0]
    assert not any(r.startswith(f"offline {be0}") for r in hx.records())

    proc = hx("network-detach", "alice", macs[0])
    assert proc.stdout == f"detached vif 0 from alice ({g})\n"
    assert gone(hx, g, "vif", 0)
    assert f"offline {be0} backend-present" in hx.records()
    hx.assert_clean()


# ---- 2. a forged backend-id ---------------------------------------------------------

def test_forged_backend_id_neither_orphans_nor_deletes_the_disk(hx):
    """alice writes backend-id 999: a read-only monitor started afterwards
    shows the disk on backend 0 and deletes nothing, even when domains
    come and go; a detach removes the real dom0 backend, its loop device
    released by the block script."""
    g = hx.domain("alice")
    img = hx.image()
    hx("block-attach", "-w", "alice", f"vdev=xvdb,script=block,target={img}")
    fe, be, rec = paths(g, "vbd", VBD_B)
    [loop] = loops_of(img)
    hx.guest("alice", "write", f"device/vbd/{VBD_B}/backend-id", "999")
    assert hx.read(f"{fe}/backend-id") == "999"

    mon = Monitor(hx, "alice")
    try:
        seen = mon.until(is_("monitoring"))
        present = [(ev["devid"], ev["backend_domid"]) for ev in seen
                   if ev["event"] == "present"]
        assert present == [(VBD_B, 0)], seen
        # harmless changes: a node of the guest's own in its frontend,
        # another domain created and destroyed (@releaseDomain); then a
        # device added, whose event comes after theirs
        hx.guest("alice", "write", f"device/vbd/{VBD_B}/harmless", "1")
        hx.domain("bob")
        hx.host.sim("domain-destroy", "bob")
        hx("block-attach", "--hotplug", "none", "alice",
           "vdev=xvdc,target=/dev/xdev-hostile")
        seen += mon.until(is_("added", devid=VBD_C))
        assert [ev for ev in seen if ev.get("devid") == VBD_B and
                ev["event"] in ("gone", "removed")] == [], seen
        assert hx.exists(fe) and hx.exists(rec)
        assert hx.read(f"{be}/online") == "1"
        assert hx.read(f"{be}/state") == "4"
        assert loops_of(img) == [loop]
        assert interrupt_monitor(mon) == 0
    finally:
        mon.kill()

    proc = hx("block-detach", "alice", "xvdb")
    assert proc.stdout == f"detached vbd {VBD_B} from alice ({g})\n"
    assert not hx.exists(be) and not hx.exists(rec) and not hx.exists(fe)
    assert loops_of(img) == []
    hx("block-detach", "--hotplug", "none", "alice", "xvdc")
    hx.assert_clean()


# ---- 3. and 8. the guest deletes its frontend during the add ------------------------

def attach_while_the_guest_deletes_its_frontend(hx, g, hotplug_dir, spec):
    """block-attach SPEC to alice with the gate script (tests/hotplug/gate,
    from HOTPLUG_DIR, whose `ok` it runs): while the add script is held,
    alice deletes her frontend and her backend closes; then the script
    goes on.  Returns (exit status, stdout, stderr)."""
    fe, be, _ = paths(g, "vbd", VBD_B)
    gate = hx.tmp / "gate"
    gate.mkdir()
    os.mkfifo(gate / "started")
    os.mkfifo(gate / "open")
    started = os.open(gate / "started", os.O_RDONLY | os.O_NONBLOCK)
    try:
        proc = hx.start("block-attach", "--hotplug-dir", str(hotplug_dir),
                        "alice", spec,
                        env={"XDEV_TEST_GATE": str(gate),
                             "XDEV_TEST_GATE_ON": "add"})

        def script_started():
            assert proc.poll() is None, \
                f"attach ended before its script: {proc.communicate()}"
            return select.select([started], [], [], 0.1)[0]
        wait_for(script_started, "the add script")
        assert os.read(started, 64) == b"add\n"
    finally:
        os.close(started)
    assert hx.exists(fe)
    hx.guest("alice", "rm", f"device/vbd/{VBD_B}")
    assert not hx.exists(fe)
    hx.wait(f"{be}/state", "6")        # the backend saw it

    def released():
        if proc.poll() is not None:
            return True               # the library ended the script
        try:
            fd = os.open(gate / "open", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False              # the script is not reading yet
        os.write(fd, b"go\n")
        os.close(fd)
        return True
    wait_for(released, "the add script to wait at its gate")
    return finish(proc)


def test_frontend_deleted_while_the_add_script_runs(hx):
    """The attach fails naming the frontend gone, its remove script runs
    (the block script releases the loop device its add attached), and
    nothing is left."""
    g = hx.domain("alice")
    img = hx.image()
    scripts = hx.script_dir("gated", gate=os.path.join(TEST_SCRIPTS, "gate"),
                            ok=BLOCK_RECORDING)
    rc, out, err = attach_while_the_guest_deletes_its_frontend(
        hx, g, scripts, f"vdev=xvdb,script=gate,target={img}")
    assert rc == EXIT_FAILED, (out, err)
    assert out == ""
    assert re.search(r"[Ff]rontend.*\b(gone|vanished|deleted)\b", err), err
    rel = f"backend/vbd/{g}/{VBD_B}"
    assert f"add {rel} 0" in hx.records()
    assert f"remove {rel} 0" in hx.records()
    assert gone(hx, g, "vbd", VBD_B)
    assert loops_of(img) == []
    hx.assert_clean()


def claims_a_death(text):
    """Whether TEXT says that the guest died ("... or deleted its device
    directory" is no such claim)."""
    return re.search(r"\b(guest|domain)(\s+\d+)?\s+(died|is dead|was "
                     r"destroyed)\b(?!\s+or\b)", text)


@pytest.mark.parametrize("moment", ["waiting-for-connected", "add-script"])
def test_frontend_gone_does_not_say_the_guest_died(hx, moment):
    """Only the guest's frontend directory went, the guest lives: the
    attach fails naming the frontend, not a death."""
    g = hx.domain("alice")
    fe, be, _ = paths(g, "vbd", VBD_B)
    if moment == "waiting-for-connected":
        # no hotplug, no physical-device: the backend waits in InitWait
        proc = hx.start("block-attach", "-w", "--hotplug", "none",
                        "--connect-timeout", "20", "alice",
                        "vdev=xvdb,target=/dev/xdev-hostile")
        hx.wait(f"{be}/state", "2")
        hx.wait(f"{fe}/state", "3")
        hx.guest("alice", "rm", f"device/vbd/{VBD_B}")
        rc, out, err = finish(proc)
    else:
        rc, out, err = attach_while_the_guest_deletes_its_frontend(
            hx, g, hx.hpdir, f"vdev=xvdb,script=gate,target={hx.loop()}")
    assert rc == EXIT_FAILED, (out, err)
    assert re.search(r"[Ff]rontend.*\b(gone|vanished|deleted)\b", err), err
    assert not claims_a_death(err), err
    assert hx.read(f"/local/domain/{g}/name") == "alice"     # alive
    assert gone(hx, g, "vbd", VBD_B)
    hx.assert_clean()


# ---- 4. a driver domain that keeps rewriting its backend's state ----------------------

def test_driver_domain_rewriting_its_state(hx):
    """dd writes Connected over its backend's state in a loop: --safe
    fails naming that and changes nothing; --force removes the device."""
    dd = hx.domain("dd", "--driver-domain")
    g = hx.domain("alice")
    hx("block-attach", "--hotplug", "none", "alice",
       "vdev=xvdb,backend=dd,target=/dev/xdev-hostile")
    fe, be, rec = paths(g, "vbd", VBD_B, dd)
    # its own driver stands still: only the loop writes the state
    hx.host.sim("fault", "dd", "backend-unresponsive")
    rel = f"backend/vbd/{g}/{VBD_B}/state"
    loop = hx.spawn([XDEV_SIM, "exec", "--domain", "dd", "--", "sh", "-c",
                     f"while :; do xenstore-write {rel} 4; done"])
    hx.wait(f"{be}/state", "4")

    proc = hx("block-detach", "--hotplug", "none", "--safe",
              "--remove-timeout", "1", "alice", "xvdb", code=EXIT_BUSY)
    assert "check xenstored" not in proc.stderr
    assert re.search(r"kept changing|keeps changing|rewrit|conflict",
                     proc.stderr), proc.stderr
    assert proc.stdout == ""
    assert hx.exists(fe) and hx.exists(rec)
    assert hx.read(f"{be}/online") == "1"

    proc = hx("block-detach", "--hotplug", "none", "--force", "alice", "xvdb")
    assert proc.stdout == f"detached vbd {VBD_B} from alice ({g})\n"
    assert not hx.exists(fe) and not hx.exists(rec)
    hx.end(loop)
    assert gone(hx, g, "vbd", VBD_B, dd)
    hx.assert_clean()


# ---- 5. a peer's text is escaped ---------------------------------------------------------

def assert_escaped(proc_out, proc_err, as_json):
    """FORGED shown, its ESC and newline escaped: no raw control byte, no
    forged line, one line of error; with -j, stdout is JSON."""
    assert "\x1b" not in proc_out + proc_err
    for line in lines(proc_out, proc_err):
        assert not line.lstrip().startswith(("xdev: detached", "detached")), \
            (proc_out, proc_err)
    assert proc_err.endswith("\n") and proc_err.count("\n") == 1, proc_err
    assert "[2J" in proc_err and FORGED_WORDS in proc_err, proc_err
    if as_json and proc_out.strip():
        obj = json.loads(proc_out)

        def strings(o):
            if isinstance(o, str):
                yield o
            elif isinstance(o, dict):
                for v in o.values():
                    yield from strings(v)
            elif isinstance(o, list):
                for v in o:
                    yield from strings(v)
        assert any(FORGED_WORDS in s for s in strings(obj)), obj
    elif not as_json:
        assert proc_out == ""


def test_guest_error_node_is_escaped(hx):
    """The frontend's error node (what frontend_refused() quotes) holds
    escapes: a --safe detach that runs into it prints them escaped."""
    g = hx.domain("alice")
    hx("block-attach", "--hotplug", "none", "alice",
       "vdev=xvdb,target=/dev/xdev-hostile")
    fe, be, _ = paths(g, "vbd", VBD_B)
    hx.wait(f"{fe}/state", "3")
    hx.host.sim("fault", "alice", "frontend-unresponsive")
    node = f"error/device/vbd/{VBD_B}/error"
    hx.guest("alice", "write", node, FORGED)
    assert hx.raw(f"/local/domain/{g}/{node}") == FORGED
    for as_json in (False, True):
        proc = hx(*(["-j"] if as_json else []), "block-detach", "--hotplug",
                  "none", "--safe", "--remove-timeout", "0.5", "alice",
                  "xvdb", code=EXIT_REFUSED)
        assert_escaped(proc.stdout, proc.stderr, as_json)
        assert hx.read(f"{be}/online") == "1"           # put back
    hx("block-detach", "--hotplug", "none", "--force", "alice", "xvdb")
    assert gone(hx, g, "vbd", VBD_B)
    hx.assert_clean()


def test_driver_domain_hotplug_error_is_escaped(hx):
    """A driver domain reports its hotplug script failed with escapes in
    hotplug-error: the attach failure prints them escaped; a listing
    carries a node of its with escapes as JSON."""
    dd = hx.domain("dd", "--driver-domain")
    g = hx.domain("alice")
    fe, be, _ = paths(g, "vbd", VBD_B, dd)
    rel = f"backend/vbd/{g}/{VBD_B}"
    for as_json in (False, True):
        proc = hx.start(*(["-j"] if as_json else []), "block-attach",
                        "--hotplug-timeout", "20", "alice",
                        "vdev=xvdb,backend=dd,target=/dev/xdev-hostile")
        hx.wait(f"{be}/state", "2")   # InitWait: waiting for hotplug-status
        if as_json:
            # a node of dd's that the listing shows: JSON, escaped
            hx.inside("dd", "xenstore-write", f"{rel}/format", FORGED)
            listing = hx("-j", "block-list", "alice").stdout
            assert "\x1b" not in listing
            [dev] = json.loads(listing)
            assert dev["devid"] == VBD_B and dev["format"] == FORGED, dev
        hx.inside("dd", "xenstore-write", f"{rel}/hotplug-error", FORGED,
                  f"{rel}/hotplug-status", "error")
        # as xdevd would: once the toolstack declares the backend Closed
        # (online 0), its remove script runs and it deletes the directory
        wait_for(lambda: proc.poll() is not None or not hx.exists(be) or
                 hx.read(f"{be}/online") == "0",
                 "the attach to fail and hand the backend back")
        if proc.poll() is None and hx.exists(be):
            hx.inside("dd", "xenstore-rm", rel, check=False)
        rc, out, err = finish(proc)
        assert rc == EXIT_HOTPLUG, (out, err)
        assert_escaped(out, err, as_json)
        assert gone(hx, g, "vbd", VBD_B, dd)
    hx.assert_clean()


# ---- 6. strict parsing of states ---------------------------------------------------------

@pytest.mark.parametrize("value", ["2147483648", "4294967302"],
                         ids=["int-overflow", "wraps-to-closed"])
def test_impossible_state_is_not_yet(hx, value):
    """dd's backend and alice's frontend hold a state no driver can be in
    (2^31, and 2^32 + 6 which a 32-bit cast makes Closed): the listing and
    the monitor show it as null or as it is, never negative or wrapped; a
    removal waiting for Closed keeps waiting (it is "not yet"), and puts
    back no number it made up."""
    dd = hx.domain("dd", "--driver-domain")
    g = hx.domain("alice")
    hx("block-attach", "--hotplug", "none", "alice",
       "vdev=xvdb,backend=dd,target=/dev/xdev-hostile")
    fe, be, rec = paths(g, "vbd", VBD_B, dd)
    hx.wait(f"{fe}/state", "3")
    # their drivers stand still: the states are what the peers write
    hx.host.sim("fault", "dd", "backend-unresponsive")
    hx.host.sim("fault", "alice", "frontend-unresponsive")
    rel = f"backend/vbd/{g}/{VBD_B}/state"
    hx.inside("dd", "xenstore-write", rel, value)
    hx.guest("alice", "write", f"device/vbd/{VBD_B}/state", value)
    assert hx.read(f"{be}/state") == value and hx.read(f"{fe}/state") == value
    raw = int(value)

    [dev] = hx.json("block-list", "alice")
    for end in ("frontend_state", "backend_state"):
        assert dev[end] in (None, raw), dev
        assert dev[end + "_name"] in (None, "Invalid", "Unknown"), dev

    mon = Monitor(hx, "alice")
    try:
        seen = mon.until(is_("monitoring"))
        [present] = [ev for ev in seen if ev["event"] == "present"]
        for end in ("frontend_state", "backend_state"):
            assert present[end] in (None, 0, raw), present
            assert present[end + "_name"] in (None, "Invalid", "Unknown"), \
                present
        assert interrupt_monitor(mon) == 0
    finally:
        mon.kill()

    # a removal: Closing written, then dd writes the value again
    proc = hx.start("block-detach", "--hotplug", "none", "--safe",
                    "--remove-timeout", "2", "alice", "xvdb")
    wait_for(lambda: proc.poll() is not None or
             hx.read(f"{be}/state") == "5", "Closing to be written")
    hx.inside("dd", "xenstore-write", rel, value)
    rc, out, err = finish(proc)
    assert rc == EXIT_TIMEOUT, (out, err)
    assert "not Closed" in err or "timed out" in err.lower(), err
    assert hx.exists(fe) and hx.exists(rec)
    assert hx.read(f"{be}/online") == "1"
    st = hx.read(f"{be}/state")
    assert st is not None and not st.startswith("-") and st != "6", st

    hx("block-detach", "--hotplug", "none", "--force", "alice", "xvdb")
    assert gone(hx, g, "vbd", VBD_B, dd)
    hx.assert_clean()


# ---- 7. a target with a '..' component ---------------------------------------------------

DOTDOT_SPECS = [
    ("vdev=xvdb,target=/dev/../dev/xdev-hostile", "/dev/../dev/xdev-hostile"),
    ("vdev=xvdb,target=../xdev-hostile", "../xdev-hostile"),
    ("vdev=xvdb,target=vg/../lv", "vg/../lv"),
    ("vdev=xvdb,target=/srv/img/..", "/srv/img/.."),
    ("phy:/srv/../etc/xdev-hostile,xvdb,w", "/srv/../etc/xdev-hostile"),
]


def test_target_with_dotdot_component_is_refused(hx):
    """Refused with exit 2 and a message naming '..' (beyond the target it
    echoes); nothing written.  Names merely containing dots pass."""
    hx.domain("alice")
    before = hx.dump()
    for spec, target in DOTDOT_SPECS:
        proc = hx("block-attach", "--hotplug", "none", "alice", spec,
                  code=EXIT_USAGE)
        assert proc.stdout == ""
        assert proc.stderr.startswith("xdev: "), proc.stderr
        # the reason, not only the echoed target
        msg = proc.stderr.replace(f"'/dev/{target}'", "").replace(
            f"'{target}'", "")
        assert re.search(r"['\"`]\.\.['\"`]|\.\. (path )?component", msg), \
            proc.stderr
    assert hx.dump() == before
    for target in ("/srv/a..b", "/srv/.../x", "/srv/..x/y", "/srv/x../y"):
        proc = hx("block-attach", "-n", "-j", "alice",
                  f"vdev=xvdb,target={target}")
        assert json.loads(proc.stdout)["description"]["target"] == target
    assert hx.dump() == before
    hx.assert_clean()


# ---- 9. the remove script ------------------------------------------------------------------

def test_remove_runs_the_script_the_add_ran(hx):
    """Added with the hotplug directory A, removed with B (empty): the
    remove script is A's."""
    g = hx.domain("alice")
    loop = hx.loop()
    a = hx.script_dir("A", ok=(open(os.path.join(TEST_SCRIPTS, "ok"))
                               .read()))
    b = hx.script_dir("B")
    hx("block-attach", "alice", f"vdev=xvdb,script=ok,target={loop}",
       env={"XDEV_HOTPLUG_DIR": str(a)})
    _, be, _ = paths(g, "vbd", VBD_B)
    assert hx.records() == [f"add {be}"]
    proc = hx("block-detach", "alice", "xvdb",
              env={"XDEV_HOTPLUG_DIR": str(b)})
    assert proc.stdout == f"detached vbd {VBD_B} from alice ({g})\n"
    assert hx.records() == [f"add {be}", f"remove {be} backend-present"]
    assert gone(hx, g, "vbd", VBD_B)
    hx.assert_clean()


def test_failed_remove_script_keeps_the_backend_for_the_next_detach(hx):
    """A remove script that exits 1: the detach fails saying that the
    backend and the record are kept, the guest's end is gone; once the
    script is fixed, a second detach finishes."""
    g = hx.domain("alice")
    loop = hx.loop()
    ok = open(os.path.join(TEST_SCRIPTS, "ok")).read()
    broken = ok.replace('\tsleep "${REMOVE_DELAY:-0}"\n',
                        '\trecord "$1 $p failing"\n\texit 1\n')
    assert broken != ok
    a = hx.script_dir("A", flaky=broken)
    env = {"XDEV_HOTPLUG_DIR": str(a)}
    hx("block-attach", "alice", f"vdev=xvdb,script=flaky,target={loop}",
       env=env)
    fe, be, rec = paths(g, "vbd", VBD_B)

    proc = hx("block-detach", "alice", "xvdb", env=env, code=EXIT_FAILED)
    assert proc.stdout == ""
    assert re.search(r"\b(kept|keeps?)\b", proc.stderr), proc.stderr
    assert be in proc.stderr or "backend" in proc.stderr, proc.stderr
    assert rec in proc.stderr or "record" in proc.stderr, proc.stderr
    assert hx.records() == [f"add {be}", f"remove {be} failing"]
    assert hx.exists(be) and hx.exists(rec)
    assert not hx.exists(fe)

    (a / "flaky").write_text(ok)
    proc = hx("block-detach", "alice", "xvdb", env=env)
    assert proc.stdout.startswith(f"detached vbd {VBD_B} from alice")
    assert hx.records()[-1] == f"remove {be} backend-present"
    assert gone(hx, g, "vbd", VBD_B)
    hx.assert_clean()
