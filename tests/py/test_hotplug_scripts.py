"""hotplug/block and hotplug/vif-bridge on the simulated host.

The scripts run as libxl runs them: `xdev-sim exec -- env XENBUS_PATH=...
<script> add|remove|online|offline`, so inside the host's network namespace
and against its xenstored.  Loop devices are the machine's own (the kernel
has one set), so every test checks that its images are attached to no loop
device when it ends; interfaces live in the host's namespace and die with
it, and the tests remove theirs anyway.
"""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import SRCDIR, XDEV_SIM, run

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="loop devices, bridges and the host's network namespace need root")

BLOCK = os.path.join(SRCDIR, "hotplug", "block")
VIF_BRIDGE = os.path.join(SRCDIR, "hotplug", "vif-bridge")
HOST_MAC = "fe:ff:ff:ff:ff:ff"


def loops_of(image):
    """[(loop device, read-only flag)] the image is attached to."""
    out = run(["losetup", "--list", "--noheadings", "--raw",
               "--output", "NAME,RO", "--associated", str(image)]).stdout
    return [(name, ro == "1") for name, ro in
            (line.split() for line in out.splitlines() if line.strip())]


def loop_autoclear(loop):
    """The kernel's mark on a loop device that `losetup --detach` could not
    detach at once because another process has it open."""
    try:
        with open(f"/sys/block/{os.path.basename(loop)}/loop/autoclear") as f:
            return f.read().strip() == "1"
    except FileNotFoundError:
        return False


def wait_for(cond, what, timeout=30.0):
    """Until COND() holds.  A loop device's state is in sysfs only (this
    host has no udev to pass on the kernel's uevents), so it is looked at
    again every 10 ms, for at most TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s until {what}, in vain")
        time.sleep(0.01)


def loop_ro(loop):
    return run(["losetup", "--list", "--noheadings", "--output", "RO",
                loop]).stdout.strip() == "1"


def devnum(path):
    """A block device's numbers as Xen's block script writes them."""
    rdev = os.stat(path).st_rdev
    return "%x:%x" % (os.major(rdev), os.minor(rdev))


class Hotplug:
    """Backend directories, images and script runs on one host."""

    def __init__(self, host, tmp_path):
        self.host = host
        self.tmp = tmp_path
        self.lock_dir = tmp_path / "lock"
        self.images = []
        self.links = []

    # -- the store
    def backend(self, kind, fe, devid, **nodes):
        path = f"/local/domain/0/backend/{kind}/{fe}/{devid}"
        args = []
        for key, value in nodes.items():
            args += [f"{path}/{key.replace('_', '-')}", value]
        self.host.xs("xenstore-write", "-R", "--", path, "", *args)
        return path

    def read(self, path):
        """A node's value as xenstore-read prints it, or None."""
        proc = self.host.xs("xenstore-read", "--", path, check=False)
        return proc.stdout[:-1] if proc.returncode == 0 else None

    def nodes(self, path):
        proc = self.host.xs("xenstore-list", "--", path, check=False)
        return proc.stdout.split() if proc.returncode == 0 else []

    # -- the scripts
    def script(self, script, command, xenbus_path, env=()):
        args = ["exec", "--", "env", f"XENBUS_PATH={xenbus_path}",
                f"XDEV_HOTPLUG_LOCK_DIR={self.lock_dir}", *env,
                script, command]
        return self.host.sim(*args, check=False)

    def block(self, command, be, env=()):
        return self.script(BLOCK, command, be, env)

    def vif(self, command, be, env=()):
        return self.script(VIF_BRIDGE, command, be, env)

    def block_popen(self, command, be, env=()):
        return subprocess.Popen(
            [XDEV_SIM, "exec", "--", "env", f"XENBUS_PATH={be}",
             f"XDEV_HOTPLUG_LOCK_DIR={self.lock_dir}", *env, BLOCK, command],
            env=self.host.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)

    # -- images and interfaces
    def image(self, name="disk.img", size=4 << 20):
        path = self.tmp / name
        with open(path, "wb") as f:
            f.truncate(size)
        self.images.append(path)
        return path

    def ip(self, *args, check=True):
        return self.host.sim("exec", "--", "ip", *args, check=check)

    def link_add(self, name, bridge=False):
        """A bridge, or a tap as netback's vif would be."""
        if bridge:
            self.ip("link", "add", name, "type", "bridge")
        else:
            self.ip("tuntap", "add", name, "mode", "tap")
        self.links.append(name)

    def link(self, name):
        """`ip -o link show NAME`, or None if there is no such interface."""
        proc = self.ip("-o", "link", "show", "dev", name, check=False)
        return proc.stdout if proc.returncode == 0 else None

    def cleanup(self):
        """Delete the interfaces the test made; detach any loop device
        still on its images and say which (a leak of the scripts)."""
        for name in reversed(self.links):
            if self.link(name) is not None:
                self.ip("link", "del", "dev", name, check=False)
        self.links = []
        left = []
        for image in self.images:
            for loop, _ in loops_of(image):
                left.append(f"{loop} on {image}")
                run(["losetup", "--detach", loop], check=False)
        return left


@pytest.fixture
def hp(host, tmp_path):
    h = Hotplug(host, tmp_path)
    yield h
    left = h.cleanup()
    assert not left, f"left behind: {left}"


def netns_inode(pid):
    return os.stat(f"/proc/{pid}/ns/net").st_ino


@pytest.fixture
def net(hp):
    """hp, on a host with a network namespace of its own: vif tests create
    bridges and taps, which must never land in ours."""
    sup = hp.host.pid("supervisor.pid")
    if netns_inode(sup) == netns_inode(os.getpid()):
        pytest.skip("the host has no private network namespace")
    yield hp
    left = hp.cleanup()
    links = hp.ip("-o", "link").stdout.splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"], \
        "interfaces left in the host's namespace"
    assert not left, f"left behind: {left}"


def assert_failed(proc, hp, be, *words):
    """The script failed as libxl expects: exit 1, hotplug-status error and
    a hotplug-error mentioning WORDS."""
    assert proc.returncode == 1, proc.stderr
    assert hp.read(f"{be}/hotplug-status") == "error"
    message = hp.read(f"{be}/hotplug-error")
    assert message, "no hotplug-error"
    for word in words:
        assert word in message, message
    return message


# ---- block: image files ----------------------------------------------------

def test_file_rw_attaches_a_loop_device_and_remove_detaches_it(hp):
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    proc = hp.block("add", be)
    assert proc.returncode == 0, proc.stderr
    assert hp.read(f"{be}/hotplug-status") == "connected"
    [(loop, ro)] = loops_of(image)
    assert not ro
    assert hp.read(f"{be}/physical-device-path") == loop
    assert hp.read(f"{be}/xdev-loop") == loop
    assert hp.read(f"{be}/physical-device") == devnum(loop)
    assert hp.read(f"{be}/hotplug-error") is None

    proc = hp.block("remove", be)
    assert proc.returncode == 0, proc.stderr
    assert loops_of(image) == []
    assert hp.read(f"{be}/xdev-loop") is None


def test_relative_xenbus_path_and_type_phy_on_an_image(hp):
    """libxl passes backend/vbd/<fe>/<devid> and writes type=phy for raw
    images too; the target decides, as in Xen's script."""
    image = hp.image()
    be = hp.backend("vbd", 6, 768, params=str(image), type="phy", mode="w")
    proc = hp.block("add", "backend/vbd/6/768")
    assert proc.returncode == 0, proc.stderr
    [(loop, _)] = loops_of(image)
    assert hp.read(f"{be}/physical-device") == devnum(loop)
    assert hp.block("remove", "backend/vbd/6/768").returncode == 0
    assert loops_of(image) == []


def test_xdev_domid_selects_the_backend_domain(hp):
    image = hp.image()
    hp.host.xs("xenstore-write", "/local/domain/9/backend/vbd/3/1/params",
               str(image), "/local/domain/9/backend/vbd/3/1/mode", "r")
    proc = hp.block("add", "backend/vbd/3/1", env=["XDEV_DOMID=9"])
    assert proc.returncode == 0, proc.stderr
    assert hp.read("/local/domain/9/backend/vbd/3/1/hotplug-status") == \
        "connected"
    assert hp.block("remove", "backend/vbd/3/1",
                    env=["XDEV_DOMID=9"]).returncode == 0
    assert loops_of(image) == []


def test_mode_r_attaches_read_only(hp):
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="r")
    proc = hp.block("add", be)
    assert proc.returncode == 0, proc.stderr
    [(loop, ro)] = loops_of(image)
    assert ro and loop_ro(loop)
    assert hp.block("remove", be).returncode == 0
    assert loops_of(image) == []


def test_add_twice_is_idempotent(hp):
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    assert hp.block("add", be).returncode == 0
    [(loop, _)] = loops_of(image)
    proc = hp.block("add", be)
    assert proc.returncode == 0, proc.stderr
    assert loops_of(image) == [(loop, False)]
    assert hp.read(f"{be}/hotplug-status") == "connected"
    assert hp.block("remove", be).returncode == 0
    assert loops_of(image) == []


@pytest.mark.parametrize("first,second,shared", [
    ("w", "w", False), ("w", "r", False), ("r", "w", False), ("r", "r", True),
])
def test_an_image_is_shared_only_read_only(hp, first, second, shared):
    image = hp.image()
    be1 = hp.backend("vbd", 5, 51712, params=str(image), type="file",
                     mode=first)
    be2 = hp.backend("vbd", 6, 51712, params=str(image), type="file",
                     mode=second)
    assert hp.block("add", be1).returncode == 0
    [(loop, _)] = loops_of(image)
    proc = hp.block("add", be2)
    if shared:
        assert proc.returncode == 0, proc.stderr
        assert len(loops_of(image)) == 2
        assert all(ro for _, ro in loops_of(image))
    else:
        message = assert_failed(proc, hp, be2, str(image), loop, "refusing")
        assert "attached" in message
        assert loops_of(image) == [(loop, first == "r")]
        assert hp.read(f"{be2}/physical-device") is None
    for be in (be2, be1):
        assert hp.block("remove", be).returncode == 0
    assert loops_of(image) == []


def test_concurrent_adds_attach_an_image_once(hp):
    image = hp.image()
    bes = [hp.backend("vbd", fe, 51712, params=str(image), type="file",
                      mode="w") for fe in range(10, 16)]
    procs = [hp.block_popen("add", be) for be in bes]
    codes = [p.wait(timeout=60) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert sorted(codes) == [0] + [1] * (len(bes) - 1)
    assert len(loops_of(image)) == 1
    winner = bes[codes.index(0)]
    for be in bes:
        if be != winner:
            assert hp.read(f"{be}/hotplug-status") == "error"
    for be in bes:
        assert hp.block("remove", be).returncode == 0
    assert loops_of(image) == []


# ---- block: block devices and bad targets -----------------------------------

def test_phy_target_writes_physical_device_and_attaches_nothing(hp):
    image = hp.image()
    loop = run(["losetup", "--find", "--show", str(image)]).stdout.strip()
    try:
        be = hp.backend("vbd", 5, 51712, params=loop, type="phy", mode="w")
        proc = hp.block("add", be)
        assert proc.returncode == 0, proc.stderr
        assert hp.read(f"{be}/hotplug-status") == "connected"
        assert hp.read(f"{be}/physical-device") == devnum(loop)
        assert hp.read(f"{be}/physical-device-path") == loop
        assert hp.read(f"{be}/xdev-loop") is None
        assert loops_of(image) == [(loop, False)]
        # remove leaves a device it did not attach alone
        assert hp.block("remove", be).returncode == 0
        assert loops_of(image) == [(loop, False)]
    finally:
        run(["losetup", "--detach", loop])
    assert loops_of(image) == []


def test_phy_target_by_relative_name_means_dev(hp):
    """Xen's expand_dev: params "loopN" means /dev/loopN."""
    image = hp.image()
    loop = run(["losetup", "--find", "--show", "--read-only",
                str(image)]).stdout.strip()
    try:
        be = hp.backend("vbd", 5, 51712, params=os.path.basename(loop),
                        mode="r")
        proc = hp.block("add", be)
        assert proc.returncode == 0, proc.stderr
        assert hp.read(f"{be}/physical-device-path") == loop
        assert hp.read(f"{be}/physical-device") == devnum(loop)
    finally:
        run(["losetup", "--detach", loop])


@pytest.mark.parametrize("kind,words", [
    ("missing", ["does not exist"]),
    ("directory", ["is a directory"]),
    ("dangling", ["symbolic link to nothing"]),
    ("chardev", ["not a block device or an image file"]),
])
def test_bad_targets_give_hotplug_error(hp, kind, words):
    target = {
        "missing": str(hp.tmp / "no-such.img"),
        "directory": str(hp.tmp),
        "dangling": str(hp.tmp / "dangling"),
        "chardev": "/dev/null",
    }[kind]
    if kind == "dangling":
        os.symlink(hp.tmp / "gone.img", target)
    be = hp.backend("vbd", 5, 51712, params=target, type="phy", mode="w")
    assert_failed(hp.block("add", be), hp, be, target, *words)
    assert hp.read(f"{be}/physical-device") is None


@pytest.mark.parametrize("nodes,words", [
    ({"type": "file"}, ["params"]),
    ({"params": "", "mode": "w"}, ["params node is empty"]),
    ({"params": "IMAGE", "mode": "rw!"}, ["mode 'rw!'", "IMAGE"]),
    ({"params": "IMAGE"}, ["mode", "IMAGE"]),
    ({"params": "IMAGE", "mode": "w", "type": "qcow2"}, ["type 'qcow2'"]),
])
def test_bad_nodes_give_hotplug_error(hp, nodes, words):
    image = str(hp.image())
    nodes = {k: v.replace("IMAGE", image) for k, v in nodes.items()}
    be = hp.backend("vbd", 5, 51712, **nodes)
    words = [w.replace("IMAGE", image) for w in words]
    assert_failed(hp.block("add", be), hp, be, *words)
    assert loops_of(image) == []


def test_read_only_image_is_not_attached_read_write(hp):
    image = hp.image()
    os.chmod(image, 0o444)
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    assert_failed(hp.block("add", be), hp, be, str(image), "write permission")
    assert loops_of(image) == []


def test_image_on_a_read_only_file_system_is_not_attached_read_write(hp):
    """losetup falls back to read-only when it cannot open the image for
    writing; the script must notice and give the device back."""
    fs = hp.tmp / "rofs"
    fs.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=8m", "xdev-hotplug-test",
         str(fs)])
    try:
        image = fs / "disk.img"
        with open(image, "wb") as f:
            f.truncate(1 << 20)
        hp.images.append(image)
        run(["mount", "-o", "remount,ro", str(fs)])
        be = hp.backend("vbd", 5, 51712, params=str(image), mode="w")
        assert_failed(hp.block("add", be), hp, be, str(image), "read-only")
        assert loops_of(image) == []
        assert hp.read(f"{be}/xdev-loop") is None
    finally:
        for loop, _ in loops_of(fs / "disk.img"):
            run(["losetup", "--detach", loop], check=False)
        run(["umount", str(fs)])


HOSTILE = [
    "$(touch CANARY)",
    "`touch CANARY`",
    "/tmp/x$(touch CANARY)",
    "a b",
    "x;reboot",
    "x;touch CANARY",
    "a\nb",
    "IMAGE\n",
    "IMAGE\x01",
    "IMAGE\\",
    "../../etc/shadow",
    "/dev/../etc/shadow",
    "-f",
    "--detach-all",
    "*",
]


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v) for v in HOSTILE])
def test_hostile_params_are_refused_never_executed(hp, value):
    canary = hp.tmp / "pwned"
    image = hp.image()
    value = value.replace("CANARY", str(canary)).replace("IMAGE", str(image))
    pwned_before = os.path.exists("/tmp/pwned")
    be = hp.backend("vbd", 5, 51712, params=value, type="file", mode="w")
    proc = hp.block("add", be)
    assert_failed(proc, hp, be)
    assert not canary.exists(), "a params value was executed"
    assert os.path.exists("/tmp/pwned") == pwned_before
    assert loops_of(image) == []
    assert loops_of("/etc/shadow") == []
    assert hp.read(f"{be}/physical-device") is None
    # remove does nothing harmful with it either
    assert hp.block("remove", be).returncode == 0
    assert not canary.exists()


def test_brief_canary_is_not_created(hp):
    """The literal value of the brief: "$(touch /tmp/pwned)"."""
    if os.path.exists("/tmp/pwned"):
        pytest.skip("/tmp/pwned exists already")
    be = hp.backend("vbd", 5, 51712, params="$(touch /tmp/pwned)", mode="w")
    assert_failed(hp.block("add", be), hp, be)
    assert not os.path.exists("/tmp/pwned")


@pytest.mark.parametrize("env,message", [
    (["XENBUS_PATH=backend/vbd/5/0;touch CANARY"], "not a xenstore path"),
    (["XENBUS_PATH=/local/domain/0/backend/../../x"], "not a xenstore path"),
    (["XENBUS_PATH=$(touch CANARY)"], "not a xenstore path"),
    (["XDEV_DOMID=0;touch CANARY"], "not a domain id"),
    (["XDEV_BLOCK_RELEASE_WAIT_MS=5s"], "not a number of milliseconds"),
    (["XDEV_BLOCK_RELEASE_WAIT_MS=1;touch CANARY"],
     "not a number of milliseconds"),
    (["XENBUS_PATH=/local/domain/0/backend/vbd/77/0"], "does not exist"),
])
def test_bad_environment_is_refused_and_writes_nothing(hp, env, message):
    canary = hp.tmp / "pwned"
    env = [e.replace("CANARY", str(canary)) for e in env]
    before = hp.host.xs("xenstore-ls", "-p", "/").stdout
    proc = hp.block("add", "backend/vbd/5/0", env=env)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not canary.exists()
    assert hp.host.xs("xenstore-ls", "-p", "/").stdout == before


def test_usage(hp):
    be = hp.backend("vbd", 5, 51712, params="/dev/null", mode="w")
    for command in ("", "attach", "--help"):
        proc = hp.block(command, be)
        assert proc.returncode == 2 and "usage" in proc.stderr
        proc = hp.vif(command, be)
        assert proc.returncode == 2 and "usage" in proc.stderr
    assert hp.read(f"{be}/hotplug-status") is None


# ---- block: remove ------------------------------------------------------------

def test_remove_twice_and_remove_without_add_succeed(hp):
    image = hp.image()
    never = hp.backend("vbd", 4, 51712, params=str(image), type="file",
                       mode="w")
    assert hp.block("remove", never).returncode == 0
    assert hp.block("remove", "backend/vbd/4/99").returncode == 0  # no dir
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    assert hp.block("add", be).returncode == 0
    for _ in range(2):
        proc = hp.block("remove", be)
        assert proc.returncode == 0, proc.stderr
        assert loops_of(image) == []
    assert hp.read(f"{be}/hotplug-error") is None


def test_remove_after_the_backend_was_deleted_still_detaches(hp):
    """A toolstack may delete the backend before the remove script runs."""
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    assert hp.block("add", be).returncode == 0
    assert len(loops_of(image)) == 1
    hp.host.xs("xenstore-rm", be)
    proc = hp.block("remove", be)
    assert proc.returncode == 0, proc.stderr
    assert loops_of(image) == []
    assert not hp.nodes(be), "remove recreated the backend directory"


def stalling(hp, name, body):
    """A directory whose program NAME is a bash script BODY, to be first
    in PATH."""
    bindir = hp.tmp / "bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / name
    wrapper.write_text("#!/bin/bash\n" + body)
    wrapper.chmod(0o755)
    return bindir


def block_add_popen(hp, be, bindir):
    """The add, its own process group: `exec --domain 0` makes it the
    script itself (its exit status, its pipes)."""
    return subprocess.Popen(
        [XDEV_SIM, "exec", "--domain", "0", "--", "env",
         f"XENBUS_PATH={be}", f"XDEV_HOTPLUG_LOCK_DIR={hp.lock_dir}",
         f"PATH={bindir}:{os.environ['PATH']}", BLOCK, "add"],
        env=hp.host.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)


@pytest.mark.parametrize("caller", ["alive", "gone"])
@pytest.mark.parametrize("moment", ["in-losetup", "in-record",
                                    "after-losetup"])
def test_add_interrupted_releases_what_it_attached(hp, moment, caller):
    """The library signals a script's whole process group (its timeout, a
    cancel, its caller's death).  An add stopped so releases the loop
    device it took: in-losetup, losetup has attached the image and not yet
    printed the device (a losetup killed there leaves it attached and
    unknown); in-record, the script is writing its record of the device
    (its temporary file used to be left behind); after-losetup, the
    script holds it.  A `losetup` (or `mv`) first in PATH stands still at
    the moment until the test's signal arrives.

    caller gone: the script's output pipe has no reader left, as when the
    library's process was killed (its watcher then relays the SIGTERM of
    its death).  bash's notice of the child the signal killed, or any
    line logged, used to kill the script with SIGPIPE before it released
    anything.  Both found by test_interrupted_attach.py (an xdev killed
    while its script ran)."""
    name = "mv" if moment == "in-record" else "losetup"
    real = shutil.which(name)
    marker = hp.tmp / "attached"
    if moment == "in-record":
        # the record written to its .tmp, not yet moved into place
        body = (f'if [[ "$*" == *".tmp "* ]]; then\n'
                f'  : >"{marker}"; sleep 60; fi\n'
                f'exec "{real}" "$@"\n')
    elif moment == "in-losetup":
        body = (f'if [[ " $* " == *" --find "* ]]; then\n'
                f'  out=$("{real}" "$@") || exit\n'
                f'  : >"{marker}"; sleep 60; printf "%s\\n" "$out"\n'
                f'else exec "{real}" "$@"; fi\n')
    else:
        # the query after the attach: the script has recorded the device
        body = (f'if [[ " $* " == *" --output RO -- "* ]]; then\n'
                f'  : >"{marker}"; sleep 60; fi\n'
                f'exec "{real}" "$@"\n')
    bindir = stalling(hp, name, body)
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    proc = block_add_popen(hp, be, bindir)
    err = None
    try:
        wait_for(marker.exists, "losetup attached the image")
        assert len(loops_of(image)) == 1
        if caller == "gone":
            proc.stdout.close()
            proc.stderr.close()
        os.killpg(proc.pid, signal.SIGTERM)    # as the library's watcher
        if caller == "alive":
            _, err = proc.communicate(timeout=30)
        else:
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # ended by its trap, which exits 143
    assert proc.returncode == 143, err
    if caller == "alive":
        assert "interrupted; released" in err, err
    assert loops_of(image) == []
    assert not os.listdir(hp.lock_dir / "block")   # no record left


def test_add_signalled_again_while_it_releases_still_releases(hp):
    """The watcher relays every SIGTERM it gets, and at its caller's death
    it may get two: PR_SET_PDEATHSIG fires once for each thread of the
    caller it is passed on from (xdev has two).  A second signal used to
    end the release half-way, the loop device attached and known to no
    one (found by test_interrupted_attach.py).  A `losetup` first in PATH
    stands still after the attach, then in the release's detach."""
    real = shutil.which("losetup")
    attached, detaching, go = (hp.tmp / n for n in ("attached", "detaching",
                                                     "go"))
    bindir = stalling(hp, "losetup", (
        f'if [[ " $* " == *" --output RO -- "* ]]; then\n'
        f'  : >"{attached}"; sleep 60; fi\n'
        f'if [[ " $* " == *" --detach "* ]]; then\n'
        f'  : >"{detaching}"\n'
        f'  until [ -e "{go}" ]; do sleep 0.01; done; fi\n'
        f'exec "{real}" "$@"\n'))
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    proc = block_add_popen(hp, be, bindir)
    try:
        wait_for(attached.exists, "losetup attached the image")
        os.killpg(proc.pid, signal.SIGTERM)
        wait_for(detaching.exists, "the release detaches the loop device")
        os.killpg(proc.pid, signal.SIGTERM)
        go.touch()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, err
    assert "interrupted; released" in err, err
    # detached: gone at once, or once whoever holds it open closes it (a
    # parallel test's loop device probe: the kernel then clears it at the
    # last close, LO_FLAGS_AUTOCLEAR)
    wait_for(lambda: loops_of(image) == [], "the loop device is released")
    assert not os.listdir(hp.lock_dir / "block")


def test_remove_clears_a_record_an_add_killed_outright_left_half_written(hp):
    """An add killed with SIGKILL (no trap runs) while it wrote its record
    leaves the temporary file; the remove that follows clears it too (it
    used to stay in the lock directory for good)."""
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    assert hp.block("add", be).returncode == 0
    [(loop, _)] = loops_of(image)
    [record] = (hp.lock_dir / "block").iterdir()
    (hp.lock_dir / "block" / (record.name + ".tmp")).write_text(
        f"{loop}\n{image}\n")
    proc = hp.block("remove", be)
    assert proc.returncode == 0, proc.stderr
    assert loops_of(image) == []
    assert list((hp.lock_dir / "block").iterdir()) == []


def test_remove_waits_until_the_kernel_lets_go_of_a_loop_device_held_open(hp):
    """`losetup --detach` of a loop device that another process has open
    only marks it for autoclear and succeeds; any `losetup --associated`
    (every add, any listing) opens every attached device for a moment.
    remove reports success only once the image is free (the CI failure
    of 2026-12-05: a remove racing a parallel test's listing left it
    attached)."""
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    assert hp.block("add", be).returncode == 0
    [(loop, _)] = loops_of(image)
    holder = os.open(loop, os.O_RDONLY)
    proc = None
    try:
        proc = hp.block_popen("remove", be,
                              env=["XDEV_BLOCK_RELEASE_WAIT_MS=600000"])
        wait_for(lambda: loop_autoclear(loop),
                 f"remove has asked the kernel to detach {loop}")
        # It must not end while the device is held.  Without the wait it
        # ends within milliseconds of the detach, so two seconds of
        # watching tell the two apart; they cannot fail a remove that waits.
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        assert proc.returncode is None, (
            f"remove ended ({proc.returncode}) with the image still "
            f"attached: {loops_of(image)}")
        assert loops_of(image) == [(loop, False)]
    finally:
        os.close(holder)
        if proc is not None:
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert loops_of(image) == []
    assert hp.read(f"{be}/xdev-loop") is None


def test_remove_of_a_loop_device_held_open_too_long_fails_naming_the_holder(hp):
    image = hp.image()
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    assert hp.block("add", be).returncode == 0
    [(loop, _)] = loops_of(image)
    holder = os.open(loop, os.O_RDONLY)
    try:
        proc = hp.block("remove", be, env=["XDEV_BLOCK_RELEASE_WAIT_MS=50"])
        assert proc.returncode == 1
        assert (f"loop device {loop} of image '{image}' is still in use (by "
                in proc.stderr), proc.stderr
        assert f"process {os.getpid()} (" in proc.stderr
        assert hp.read(f"{be}/hotplug-error").endswith(
            "after 50 ms; the kernel detaches it when the last user closes it")
        # kept, so that a later remove looks again
        assert hp.read(f"{be}/xdev-loop") == loop
        assert [p.name for p in (hp.lock_dir / "block").iterdir()]
    finally:
        os.close(holder)
    wait_for(lambda: loops_of(image) == [],
             f"the kernel has detached {loop} on its last close")
    proc = hp.block("remove", be)
    assert proc.returncode == 0, proc.stderr
    assert hp.read(f"{be}/xdev-loop") is None
    assert list((hp.lock_dir / "block").iterdir()) == []


def test_remove_leaves_a_loop_device_it_no_longer_owns(hp):
    """The loop device was detached behind the script's back and reused
    for another image: remove must not detach it."""
    image, other = hp.image("a.img"), hp.image("b.img")
    be = hp.backend("vbd", 5, 51712, params=str(image), type="file", mode="w")
    assert hp.block("add", be).returncode == 0
    [(loop, _)] = loops_of(image)
    run(["losetup", "--detach", loop])
    reuse = run(["losetup", loop, str(other)], check=False)
    if reuse.returncode != 0:
        pytest.skip(f"{loop} was taken by someone else meanwhile")
    assert hp.block("remove", be).returncode == 0
    assert loops_of(other) == [(loop, False)]
    run(["losetup", "--detach", loop])


# ---- block: with the simulated blkback -----------------------------------

def test_block_add_lets_the_simulated_backend_connect(hp):
    host = hp.host
    domid = host.sim("domain-create", "disky").stdout.strip()
    image = hp.image(size=8 << 20)
    fe = f"/local/domain/{domid}/device/vbd/51712"
    be = f"/local/domain/0/backend/vbd/{domid}/51712"
    host.xs("xenstore-write", fe, "", be, "")
    host.xs("xenstore-chmod", fe, f"n{domid}", "r0")
    host.xs("xenstore-chmod", be, "n0", f"r{domid}")
    host.xs("xenstore-write", f"{fe}/backend", be, f"{fe}/backend-id", "0",
            f"{fe}/virtual-device", "51712", f"{fe}/state", "1")
    host.xs("xenstore-write", f"{be}/frontend", fe, f"{be}/frontend-id", domid,
            f"{be}/params", str(image), f"{be}/type", "phy",
            f"{be}/mode", "w", f"{be}/online", "1", f"{be}/state", "1")
    host.sim("wait", f"{be}/state", "2")
    proc = hp.block("add", f"backend/vbd/{domid}/51712")
    assert proc.returncode == 0, proc.stderr
    host.sim("wait", f"{be}/state", "4")
    host.sim("wait", f"{fe}/state", "4")
    assert hp.read(f"{be}/sectors") == str((8 << 20) // 512)
    # libxl's removal: offline, Closing, wait for Closed, then the script
    host.xs("xenstore-write", f"{be}/online", "0", f"{be}/state", "5")
    host.sim("wait", f"{be}/state", "6")
    proc = hp.block("remove", f"backend/vbd/{domid}/51712")
    assert proc.returncode == 0, proc.stderr
    assert loops_of(image) == []
    host.xs("xenstore-rm", be, fe)
    host.sim("domain-destroy", "disky")


# ---- vif-bridge ---------------------------------------------------------------

def flags(line):
    return line.split("<", 1)[1].split(">", 1)[0].split(",")


def test_vif_online_attaches_to_the_bridge_and_offline_detaches(net):
    net.link_add("br0", bridge=True)
    net.link_add("vif7.0")
    be = net.backend("vif", 7, 0, bridge="br0", mac="00:16:3e:01:02:03",
                     mtu="1400", frontend_id="7", handle="0")
    proc = net.vif("online", be, env=["vif=vif7.0"])
    assert proc.returncode == 0, proc.stderr
    assert net.read(f"{be}/hotplug-status") == "connected"
    line = net.link("vif7.0")
    assert " master br0 " in line and "UP" in flags(line)
    assert " mtu 1400 " in line and f"link/ether {HOST_MAC} " in line

    for _ in range(2):
        proc = net.vif("offline", be, env=["vif=vif7.0"])
        assert proc.returncode == 0, proc.stderr
        line = net.link("vif7.0")
        assert " master " not in line and "UP" not in flags(line)
    # offline writes nothing, and an interface already gone is fine
    assert net.read(f"{be}/hotplug-status") == "connected"
    net.ip("link", "del", "dev", "vif7.0")
    assert net.vif("offline", be, env=["vif=vif7.0"]).returncode == 0
    net.host.xs("xenstore-rm", be)
    assert net.vif("offline", be).returncode == 0
    assert not net.nodes(be)


def test_vif_name_from_the_backend_nodes_and_relative_path(net):
    net.link_add("xenbr0", bridge=True)
    net.link_add("vif12.3")
    be = net.backend("vif", 12, 3, bridge="xenbr0", frontend_id="12",
                     handle="3")
    proc = net.vif("online", "backend/vif/12/3")
    assert proc.returncode == 0, proc.stderr
    assert " master xenbr0 " in net.link("vif12.3")
    assert net.read(f"{be}/hotplug-status") == "connected"
    assert net.vif("offline", "backend/vif/12/3").returncode == 0
    assert " master " not in net.link("vif12.3")


def test_vif_add_and_remove_are_no_ops(net):
    be = net.backend("vif", 7, 0, bridge="br0")
    for command in ("add", "remove"):
        proc = net.vif(command, be, env=["vif=vif7.0"])
        assert proc.returncode == 0, proc.stderr
    assert net.read(f"{be}/hotplug-status") is None


def test_vif_missing_bridge_gives_hotplug_error(net):
    net.link_add("vif7.0")
    be = net.backend("vif", 7, 0, bridge="br9")
    assert_failed(net.vif("online", be, env=["vif=vif7.0"]), net, be,
                  "bridge br9 does not exist")
    assert " master " not in net.link("vif7.0")


def test_vif_bridge_that_is_not_a_bridge(net):
    net.link_add("vif7.0")
    net.link_add("tap9")
    be = net.backend("vif", 7, 0, bridge="tap9")
    assert_failed(net.vif("online", be, env=["vif=vif7.0"]), net, be,
                  "tap9", "not a bridge")


def _descendant_named(pid, name):
    """True if a process named NAME descends from PID (/proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append((int(d), comm))
    todo = [pid]
    while todo:
        for child, comm in children.get(todo.pop(), []):
            if comm == name:
                return True
            todo.append(child)
    return False


def test_vif_online_waits_for_netback_to_register_the_vif(net):
    """Linux's netback writes InitWait, then registers the vif: online
    waits for it.  The interface is made only once the script is seen
    waiting (its `sleep` between looks); the script then succeeds."""
    net.link_add("br0", bridge=True)
    be = net.backend("vif", 7, 0, bridge="br0")
    proc = subprocess.Popen(
        [XDEV_SIM, "exec", "--", "env", f"XENBUS_PATH={be}", "vif=vif7.0",
         VIF_BRIDGE, "online"], env=net.host.env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 30
        while not _descendant_named(proc.pid, "sleep"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "the script never waited"
            time.sleep(0.01)
        net.link_add("vif7.0")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert " master br0 " in net.link("vif7.0")
    assert net.read(f"{be}/hotplug-status") == "connected"


def test_vif_missing_interface_gives_hotplug_error(net):
    net.link_add("br0", bridge=True)
    be = net.backend("vif", 7, 0, bridge="br0")
    assert_failed(net.vif("online", be, env=["vif=vif7.0"]), net, be,
                  "interface vif7.0 does not exist")


HOSTILE_BRIDGES = ["br0;reboot", "$(touch CANARY)", "`touch CANARY`", "a b",
                   "x" * 16, "", "br0\n", "..", "-br0", "br0\\", "br/0"]


@pytest.mark.parametrize("bridge", HOSTILE_BRIDGES,
                         ids=[repr(b) for b in HOSTILE_BRIDGES])
def test_vif_hostile_bridge_names_are_refused(net, bridge):
    canary = net.tmp / "pwned"
    bridge = bridge.replace("CANARY", str(canary))
    net.link_add("br0", bridge=True)
    net.link_add("vif7.0")
    be = net.backend("vif", 7, 0, bridge=bridge)
    proc = net.vif("online", be, env=["vif=vif7.0"])
    if bridge == "-br0":
        # a valid name, used verbatim: no such bridge
        assert_failed(proc, net, be, "bridge -br0 does not exist")
    else:
        assert_failed(proc, net, be, "bridge")
    assert not canary.exists()
    assert " master " not in net.link("vif7.0")


@pytest.mark.parametrize("nodes,words", [
    ({"bridge": "br0", "mtu": "1500;reboot"}, ["mtu"]),
    ({"bridge": "br0", "mac": "$(reboot)"}, ["mac", "not a MAC"]),
    ({}, ["no bridge"]),
])
def test_vif_bad_nodes_give_hotplug_error(net, nodes, words):
    net.link_add("br0", bridge=True)
    net.link_add("vif7.0")
    be = net.backend("vif", 7, 0, **nodes)
    assert_failed(net.vif("online", be, env=["vif=vif7.0"]), net, be, *words)


def test_vif_hostile_interface_name_is_refused(net):
    canary = net.tmp / "pwned"
    net.link_add("br0", bridge=True)
    be = net.backend("vif", 7, 0, bridge="br0")
    proc = net.vif("online", be, env=[f"vif=vif7.0;touch {canary}"])
    assert_failed(proc, net, be, "interface name")
    assert not canary.exists()


def test_vif_online_lets_the_simulated_netback_connect(net):
    host = net.host
    domid = host.sim("domain-create", "netty").stdout.strip()
    net.link_add("br0", bridge=True)
    fe = f"/local/domain/{domid}/device/vif/0"
    be = f"/local/domain/0/backend/vif/{domid}/0"
    host.xs("xenstore-write", fe, "", be, "")
    host.xs("xenstore-chmod", fe, f"n{domid}", "r0")
    host.xs("xenstore-chmod", be, "n0", f"r{domid}")
    host.xs("xenstore-write", f"{fe}/backend", be, f"{fe}/backend-id", "0",
            f"{fe}/handle", "0", f"{fe}/mac", "00:16:3e:00:00:07",
            f"{fe}/state", "1")
    host.xs("xenstore-write", f"{be}/frontend", fe, f"{be}/frontend-id", domid,
            f"{be}/handle", "0", f"{be}/bridge", "br0",
            f"{be}/mac", "00:16:3e:00:00:07", f"{be}/online", "1",
            f"{be}/state", "1")
    host.sim("wait", f"{be}/state", "2")  # netback made vif<domid>.0
    proc = net.vif("online", f"backend/vif/{domid}/0",
                   env=[f"vif=vif{domid}.0"])
    assert proc.returncode == 0, proc.stderr
    assert " master br0 " in net.link(f"vif{domid}.0")
    host.sim("wait", f"{be}/state", "4")
    assert net.read(f"{be}/hotplug-status") == "connected"
    # libxl's removal: offline, Closing, wait for Closed, then the script;
    # netback has removed the interface by then
    host.xs("xenstore-write", f"{be}/online", "0", f"{be}/state", "5")
    host.sim("wait", f"{be}/state", "6")
    assert net.link(f"vif{domid}.0") is None
    proc = net.vif("offline", f"backend/vif/{domid}/0",
                   env=[f"vif=vif{domid}.0"])
    assert proc.returncode == 0, proc.stderr
    host.xs("xenstore-rm", be, fe)
    host.sim("domain-destroy", "netty")
