"""50 attaches interrupted at random moments, with the real block script.

An operator runs `xdev block-attach -w <guest> <spec>` on an image file in
a simulated host whose hotplug directory holds the real hotplug/block, and
interrupts it: SIGINT (docs/cli.md: the cancel; half of them to xdev's
pid as `kill -INT` does, half to its process group as Ctrl-C on a
terminal does, which reaches the library's script watchers too) or SIGKILL
(a third of them).  The delay is drawn in one of four windows measured on
uninterrupted attaches of the same host just before: from xdev's start
to the store's write; from the block script's start (a mark of xdev's
`-vv` log, which the test reads as it comes) to its end; 3 ms either side
of the moment its `losetup` attached the image, counted from the same
mark; from the add's wait for Connected (its mark) to xdev's exit.  A
window counted from a mark follows the attach's pace as the load of the
machine changes.  Where each signal actually landed is read from the
timestamped log and from sysfs (was the image attached yet?); the table
of them is printed (pytest -s) and goes with any failure.  A signal that
comes after xdev has exited interrupts nothing: the test goes on until
50 have reached a running xdev.

After each one:

  SIGINT   xdev exits by itself with 130 ("interrupted", what it wrote is
           undone); 0 if the attach had completed, the device then
           attached as documented (the operator detaches it); killed by
           the SIGINT itself (which a shell reports as 130 too) only
           before it wrote anything, nothing written.  Nothing is left
           once xdev has exited: no loop device on the image, none of the
           device's nodes, no process of the attach.
  SIGKILL  xdev cannot clean up; the operator runs `xdev block-detach`:
           0 when the killed attach had written its nodes, 3 (no such
           disk) when it had not.  Once the attach's processes have ended
           (its script gets SIGTERM from its watcher when xdev dies, and
           releases what it took), nothing is left.

"Nothing left" is: no loop device backed by the image
(/sys/block/loop*/loop/backing_file), the guest's frontend, the backend
and xdev's record of the device absent, the store as a whole as it was
before the first attach (the directories above the device's nodes are
deleted once empty), the block script's own record directory empty, and
no process carrying the iteration's environment tag (xdev, its watchers,
the scripts and their losetups inherit it).  The test goes on after a
failed iteration (cleaning up by force) and reports every failure at the
end.

The seed is printed with every failure; XDEV_INTERRUPT_SEED=<seed> draws
the same delays and signals again, XDEV_INTERRUPT_ONLY=<i> (with it) runs
iteration i alone.  The one sleep is the drawn delay before the signal;
every other wait is on the event itself (a line of xdev's log, a
process's exit, a process's disappearance from /proc, a loop device's
appearance in sysfs).

What it found, each now shown at once by a test of its own:

- a SIGINT just after the attach's end killed xdev, the device attached
  (test_sigint_after_the_attach_completed_is_not_a_cancel, below);
- about one SIGKILL in a hundred while the script ran left a loop device
  attached and known to no one.  The block script, told by its watcher,
  released nothing: its output pipe had lost its reader with xdev, and
  bash's notice of the child the SIGTERM killed (or any line) killed it
  with SIGPIPE (test_hotplug_scripts.py,
  test_add_interrupted_releases_what_it_attached, caller gone); or a
  second SIGTERM ended the release half-way, the watcher getting one for
  each of xdev's threads it is passed on from
  (test_add_signalled_again_while_it_releases_still_releases);
- an add stopped while writing its record left the record's temporary
  file (test_add_interrupted_releases_what_it_attached, in-record).
"""
import collections
import glob
import os
import random
import signal
import statistics
import subprocess
import threading
import time

import pytest

from conftest import BUILDDIR, SRCDIR, XDEV_SIM, Host, run

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="loop devices need root")

# The program itself, not libtool's wrapper script: a signal must reach
# xdev as it reaches an installed one, not a shell (and the subshells it
# forks) on its way to exec it.
XDEV = os.path.join(BUILDDIR, "bin", ".libs", "xdev")
if not os.path.exists(XDEV):            # a static build: no wrapper
    XDEV = os.path.join(BUILDDIR, "bin", "xdev")
# The same for xdev-sim: its libtool wrapper is a shell script whose
# subshells outlive it when a signal kills it before it execs the program
# (seen in CI: a SIGINT 5 ms after the start left one running).
SIM = os.path.join(BUILDDIR, "tests", "sim", ".libs", "xdev-sim")
if not os.path.exists(SIM):
    SIM = XDEV_SIM
LIBDIR = ":".join([os.path.join(BUILDDIR, "lib", ".libs"),
                   os.path.join(BUILDDIR, "tests", "sim", ".libs")])
HOTPLUG = os.path.join(SRCDIR, "hotplug")
ITERATIONS = 50
CALIBRATIONS = 3
LOSETUP_S = 0.003   # the window around the moment losetup attached the image
EXIT_NOT_FOUND, EXIT_INTERRUPTED = 3, 130
TAG = "XDEV_INTERRUPT_TAG"
VDEV, DEVID = "xvdb", 51728
WAIT_S = 30     # an xdev or script still running after this is stuck

# The -vv lines that mark the add's steps (lib/op-add.c's transitions), in
# the order they come, and the phase each one begins.
MARKS = [
    ("add write -> wait-initwait", "wait-initwait"),  # the nodes are written
    ("-> script-running (add script)", "add-script"),
    ("-> script-exited (add script)", "script-done"),
    ("add script-exited -> wait-connected", "wait-connected"),
    ("add done:", "done"),
]


class Attach:
    """`xdev -vv block-attach -w` in the background, its stderr read by a
    thread that timestamps every line."""

    def __init__(self, env, spec):
        # `exec --domain 0`: xdev-sim becomes xdev (signals and the exit
        # status are xdev's own), in its own session so that its process
        # group is xdev's alone, as a terminal's foreground job is
        self.proc = subprocess.Popen(
            [SIM, "exec", "--domain", "0", "--", XDEV, "-vv",
             "block-attach", "-w", "alice", spec],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.t0 = time.monotonic()
        self.lines = []             # (seconds since t0, line)
        self.eof = None             # when stderr closed: xdev's exit
        self.seen = {phase: threading.Event() for _, phase in MARKS}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append((time.monotonic() - self.t0, line.rstrip("\n")))
            for mark, phase in MARKS:
                if mark in line:
                    self.seen[phase].set()
        self.eof = time.monotonic() - self.t0
        for event in self.seen.values():
            event.set()             # no more marks: no one waits for them

    def wait_mark(self, phase):
        """Until xdev has logged PHASE's mark (or ended without)."""
        if not self.seen[phase].wait(WAIT_S):
            pytest.fail(f"xdev neither logged {phase} nor ended in "
                        f"{WAIT_S} s:\n{self.log()}")

    def wait(self, timeout=WAIT_S):
        """xdev's exit status, or None if it is still running after
        TIMEOUT (then killed)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def finish(self, timeout=WAIT_S):
        """Until xdev's stderr is closed: by xdev and by its watchers,
        which keep a copy while they wait for a script.  False if it is
        still open after TIMEOUT."""
        self.reader.join(timeout)
        if self.reader.is_alive():
            return False
        self.proc.stderr.close()
        return True

    def mark_times(self):
        """{phase: when its mark line came}."""
        got = {}
        for t, line in self.lines:
            for mark, phase in MARKS:
                if mark in line and phase not in got:
                    got[phase] = t
        return got

    def phase_at(self, t):
        """The add's phase at T: the last mark that came before it."""
        phase = "before-write"
        for when, line in self.lines:
            if when > t:
                break
            for mark, name in MARKS:
                if mark in line:
                    phase = name
        return phase

    def log(self):
        return "\n".join(f"  {t * 1000:7.1f} ms  {line}"
                         for t, line in self.lines)


def loops_of(image):
    """The loop devices backed by IMAGE, from sysfs (no losetup: a listing
    opens every loop device, which would hold up a script's detach)."""
    found = []
    for path in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(path) as f:
                backing = f.read().strip()
        except OSError:
            continue            # detached meanwhile
        if backing.removesuffix(" (deleted)") == str(image):
            found.append("/dev/" + path.split("/")[3])
    return sorted(found)


def autoclear(loop):
    """LOOP's autoclear mark: "1" once it was detached while open (the
    kernel clears it at the last close), "0", or "?" when gone."""
    try:
        with open(f"/sys/block/{os.path.basename(loop)}/loop/"
                  "autoclear") as f:
            return f.read().strip()
    except OSError:
        return "?"


def released_loops_gone(image, timeout=WAIT_S):
    """Until the loop devices on IMAGE that were detached while open are
    gone.  Whoever detached one is done with it; the kernel clears it at
    its last close, which may be another test's: losetup --find, running
    in a parallel test, opens free-looking devices while it probes.  /proc
    tells no one when that closes: looked at every 10 ms."""
    deadline = time.monotonic() + timeout
    while (any(autoclear(loop) == "1" for loop in loops_of(image)) and
           time.monotonic() < deadline):
        time.sleep(0.01)


def loop_detail(loop):
    """What holds LOOP, for a message: its autoclear mark (a detach the
    kernel defers until the last close) and the processes that have it
    open."""
    holders = []
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            if os.readlink(fd) == loop:
                pid = fd.split("/")[2]
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    holders.append(f"{pid} " + f.read().replace(
                        b"\0", b" ").decode(errors="replace").strip())
        except OSError:
            continue
    return (f"{loop} (autoclear {autoclear(loop)}, open by "
            f"{holders or 'none'})")


def tagged(tag, every=False):
    """[(pid, command line)] of the live processes whose environment holds
    TAG=tag: the attach's xdev, watchers, scripts and their children
    (EVERY: TAG=tag.<i>, any iteration's)."""
    needle = f"{TAG}={tag}".encode() + (b"." if every else b"\0")
    found = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(f"{d}/environ", "rb") as f:
                if needle not in f.read():
                    continue
            with open(f"{d}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue    # ended, not yet reaped
            with open(f"{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue            # gone meanwhile
        found.append((int(d[6:]), cmd.strip()))
    return found


def wait_untagged(tag, timeout=WAIT_S):
    """Until no process carries TAG; [] then, else the ones still there.
    /proc tells no one when a process ends that is not its child, so it is
    looked at again every 10 ms."""
    deadline = time.monotonic() + timeout
    while True:
        left = tagged(tag)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


Outcome = collections.namedtuple("Outcome", "i target delay phase rc")


class Soak:
    def __init__(self, host, tmp_path):
        self.host = host
        self.tmp = tmp_path
        self.failures = []
        # each iteration's processes carry TAG=<tag_base>.<i>
        self.tag_base = f"{os.getpid()}.{time.monotonic_ns()}"
        self.image = tmp_path / "disk.img"
        with open(self.image, "wb") as f:
            f.truncate(4 << 20)      # sparse
        self.lock_dir = tmp_path / "lock"
        # the block script's interruptions: not native hotplug (whose
        # cancels and crashes check_native covers)
        self.env = dict(host.env, XDEV_HOTPLUG_DIR=HOTPLUG,
                        XDEV_NATIVE="never",
                        XDEV_HOTPLUG_LOCK_DIR=str(self.lock_dir))
        self.env["LD_LIBRARY_PATH"] = ":".join(
            filter(None, [LIBDIR, os.environ.get("LD_LIBRARY_PATH")]))
        self.spec = f"format=raw, vdev={VDEV}, access=rw, target={self.image}"
        self.domid = int(host.sim("domain-create", "alice").stdout)
        g = self.domid
        self.nodes = {
            "frontend": f"/local/domain/{g}/device/vbd/{DEVID}",
            "backend": f"/local/domain/0/backend/vbd/{g}/{DEVID}",
            "record": f"/xdev/{g}/vbd/{DEVID}",
        }
        self.baseline = None

    # -- the store, through the real xenstored
    def dump(self):
        return self.host.xs("xenstore-ls", "-p", "/").stdout

    def present(self):
        """The device's nodes that exist."""
        return [name for name, path in self.nodes.items()
                if self.host.xs("xenstore-exists", "--", path,
                                check=False).returncode == 0]

    def attached(self):
        """The device as a completed attach leaves it: problems, or []."""
        be = self.nodes["backend"]
        status = self.host.xs("xenstore-read", "--", f"{be}/hotplug-status",
                              check=False).stdout.strip()
        problems = []
        if self.present() != list(self.nodes):
            problems.append(f"attach exited 0, but only {self.present()} "
                            f"of the device's nodes exist")
        if status != "connected":
            problems.append(f"attach exited 0 with hotplug-status "
                            f"{status!r}")
        if len(loops_of(self.image)) != 1:
            problems.append(f"attach exited 0 with loop devices "
                            f"{loops_of(self.image)} on the image")
        return problems

    def xdev(self, *args):
        return run([SIM, "exec", "--domain", "0", "--", XDEV] +
                   list(args), env=self.env, check=False)

    def detach(self):
        return self.xdev("block-detach", "alice", VDEV)

    def leftovers(self):
        """What an iteration left behind: [] when nothing."""
        problems = []
        released_loops_gone(self.image)
        if loops_of(self.image):
            problems.append(f"loop devices still backed by {self.image}: " +
                            ", ".join(map(loop_detail, loops_of(self.image))))
        if self.present():
            problems.append("nodes left: " + ", ".join(
                f"{n} {self.nodes[n]}" for n in self.present()))
        elif self.baseline is not None and self.dump() != self.baseline:
            problems.append("the store differs from before the first "
                            "attach:\n" + self.dump())
        records = (os.listdir(self.lock_dir / "block")
                   if (self.lock_dir / "block").is_dir() else [])
        if records:
            problems.append(f"block script records left: {records}")
        return problems

    def force_clean(self, tag):
        """After a failed iteration: back to the baseline, whatever the
        device's state, so that the next iteration starts clean."""
        for pid, _ in tagged(tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_untagged(tag)
        if self.present():
            self.xdev("block-detach", "--force", "alice", str(DEVID))
        for path in self.nodes.values():
            self.host.xs("xenstore-rm", "--", path, check=False)
        for loop in loops_of(self.image):
            run(["losetup", "--detach", loop], check=False)
        for rec in glob.glob(str(self.lock_dir / "block" / "*")):
            os.unlink(rec)

    # -- the windows the delays are drawn from
    def calibrate(self):
        """Uninterrupted attaches: when the nodes are written, the script
        runs, its losetup attaches the image, the add waits for Connected
        and xdev exits.  {window: (anchor, lo, hi)}: a delay is drawn
        between LO and HI seconds after ANCHOR, a phase's mark in xdev's
        log (None: xdev's start), so that it follows the attach's pace as
        the machine's load changes."""
        seen = collections.defaultdict(list)
        for _ in range(CALIBRATIONS):
            a = Attach(self.env, self.spec)
            # sysfs tells no one when a loop device is attached: looked
            # at every half millisecond while xdev runs
            while a.proc.poll() is None and not loops_of(self.image):
                time.sleep(0.0005)
            losetup = time.monotonic() - a.t0
            rc = a.wait()
            assert a.finish()
            assert rc == 0, f"an uninterrupted attach failed:\n{a.log()}"
            marks = a.mark_times()
            for phase in ("wait-initwait", "add-script", "script-done",
                          "wait-connected"):
                assert phase in marks, f"no {phase} mark:\n{a.log()}"
            seen["write"].append(marks["wait-initwait"])
            seen["script"].append(marks["script-done"] - marks["add-script"])
            seen["losetup"].append(losetup - marks["add-script"])
            # (the reader's end of stderr: Popen.wait polls, up to 50 ms
            # late)
            seen["exit"].append(a.eof - marks["wait-connected"])
            proc = self.detach()
            assert proc.returncode == 0, proc.stderr
            assert self.leftovers() == []
            if self.baseline is None:
                # after one whole cycle: the guest's device directory,
                # which a removal leaves (docs/library.md), exists
                self.baseline = self.dump()
        m = {k: statistics.median(v) for k, v in seen.items()}
        return {
            "before-write": (None, 0.0, m["write"]),
            "in-script": ("add-script", 0.0, m["script"]),
            "at-losetup": ("add-script", max(0.0, m["losetup"] - LOSETUP_S),
                           min(m["script"], m["losetup"] + LOSETUP_S)),
            "after-connect": ("wait-connected", 0.0, m["exit"]),
        }

    # -- one interrupted attach
    def iteration(self, i, sig, target, anchor, delay):
        tag = f"{self.tag_base}.{i}"
        a = Attach(dict(self.env, **{TAG: tag}), self.spec)
        if anchor:
            a.wait_mark(anchor)
        time.sleep(delay)
        looped = bool(loops_of(self.image))   # the image attached yet?
        sent = time.monotonic() - a.t0
        early_exit = a.proc.poll() is not None
        if not early_exit:
            if target == "SIGINT-group":
                os.killpg(a.proc.pid, signal.SIGINT)
            else:
                a.proc.send_signal(sig)
        rc = a.wait()
        problems, detach = [], None
        if rc is None:
            problems.append(f"xdev still running {WAIT_S} s after the "
                            f"signal (killed)")
        elif sig == signal.SIGINT:
            # xdev has exited: nothing of the attach may still run
            left = tagged(tag)
            a.finish()    # its log: what it did before the signal
            if rc == EXIT_INTERRUPTED:
                pass
            elif rc == 0:
                problems += self.attached()
                proc = self.detach()
                detach = proc.returncode
                if proc.returncode != 0:
                    problems.append(f"block-detach after a completed "
                                    f"attach exited {proc.returncode}: "
                                    f"{proc.stderr.strip()}")
            elif (rc == -signal.SIGINT and
                  "wait-initwait" not in a.mark_times()):
                # killed by the signal before its handler was there:
                # before the write (checked below: nothing may exist)
                pass
            else:
                problems.append(f"SIGINT'ed attach exited {rc}, not "
                                f"{EXIT_INTERRUPTED} (or 0 if it had "
                                f"completed)")
            if left:
                problems.append(f"processes of the attach still running "
                                f"after xdev exited: {left}")
                problems += [f"(at xdev's exit) {p}"
                             for p in self.leftovers()]
                wait_untagged(tag)
        else:
            if rc not in (-signal.SIGKILL, 0):
                problems.append(f"SIGKILL'ed attach exited {rc}")
            # the operator finishes what the killed attach left
            had = self.present()
            proc = self.detach()
            detach = proc.returncode
            want = 0 if had else EXIT_NOT_FOUND
            if proc.returncode != want:
                problems.append(f"block-detach exited {proc.returncode} "
                                f"(want {want}: nodes before it {had}): "
                                f"{proc.stderr.strip()}")
            left = wait_untagged(tag)
            if left:
                problems.append(f"processes of the killed attach still "
                                f"running {WAIT_S} s later: {left}")
        problems += self.leftovers()
        if not a.finish():
            problems.append("xdev's stderr still open (a watcher or script "
                            f"holds it) {WAIT_S} s after: {tagged(tag)}")
        phase = "exited" if early_exit else a.phase_at(sent)
        if phase == "add-script":
            phase += ", image attached" if looped else ", not yet attached"
        if problems:
            self.failures.append(
                f"iteration {i}: {target} {delay * 1000:.1f} ms after "
                f"{anchor or 'the start'} "
                f"(sent at {sent * 1000:.1f} ms, phase {phase}), xdev "
                f"exit {rc}, block-detach {detach}:\n    " +
                "\n    ".join(problems) + "\n  xdev's log:\n" + a.log())
            self.force_clean(tag)
            a.finish()
        return Outcome(i, target, delay, phase, rc)


@pytest.fixture(params=["c", "o"], ids=["xenstored", "oxenstored"])
def soak(request, tmp_path):
    """A host of its own, on each daemon (a killed xdev's connection drops
    in the middle of whatever it was doing: the store's part).  Fails a
    test that leaves a loop device on its image, and detaches it."""
    h = Host(request.param)
    try:
        s = Soak(h, tmp_path)
        yield s
        released_loops_gone(s.image)
        left = loops_of(s.image)
        for loop in left:
            run(["losetup", "--detach", loop], check=False)
    finally:
        if os.path.isdir(h.dir):
            h.stop()
    assert not os.path.exists(h.dir), f"{h.dir} left behind"
    assert not left, f"loop devices left on {s.image}: {left}"


def test_interrupted_attaches_leave_nothing(soak):
    seed = int(os.environ.get("XDEV_INTERRUPT_SEED") or
               random.randrange(1 << 30))
    only = os.environ.get("XDEV_INTERRUPT_ONLY")
    why = f"seed {seed} (XDEV_INTERRUPT_SEED={seed} replays it)"
    windows = soak.calibrate()
    rnd = random.Random(seed)
    outcomes = []
    landed = 0
    t0 = time.monotonic()
    # until ITERATIONS signals have reached a running xdev: one that comes
    # after its exit (the after-connect window ends at its median exit)
    # interrupts nothing, and counts for nothing
    for i in range(2 * ITERATIONS):
        if landed == ITERATIONS:
            break
        # every draw is made, replayed or not: iteration i's are the same
        r = rnd.random()
        target = ("SIGKILL" if r < 1 / 3 else
                  "SIGINT-pid" if r < 2 / 3 else "SIGINT-group")
        anchor, lo, hi = windows[rnd.choice(sorted(windows))]
        delay = rnd.uniform(lo, hi)
        if only is not None and int(only) != i:
            continue
        sig = signal.SIGKILL if target == "SIGKILL" else signal.SIGINT
        outcomes.append(soak.iteration(i, sig, target, anchor, delay))
        landed += outcomes[-1].phase != "exited"
    elapsed = time.monotonic() - t0
    # what happened, for the log (pytest -s) and any failure message
    table = collections.Counter((o.target, o.phase, o.rc) for o in outcomes)
    summary = (f"{why}: {landed} interrupted attaches ({len(outcomes)} "
               f"attaches) in {elapsed:.1f} s; windows (ms) " + ", ".join(
                   f"{k} {lo * 1000:.1f}-{hi * 1000:.1f} after "
                   f"{anchor or 'the start'}"
                   for k, (anchor, lo, hi) in sorted(windows.items())) +
               "\n" +
               "\n".join(f"  {n:3d} x {t} in {p}: exit {rc}"
                         for (t, p, rc), n in sorted(table.items(), key=str)))
    print(summary)
    assert not soak.failures, (
        f"{len(soak.failures)} of {len(outcomes)} interrupted attaches "
        f"ended wrong or left something behind; {why}\n" +
        "\n".join(soak.failures) + "\n" + summary)
    if only is None:
        assert landed == ITERATIONS, f"most signals came too late: {summary}"
    # nothing overall
    released_loops_gone(soak.image)
    assert loops_of(soak.image) == [], why
    assert soak.present() == [], why
    assert soak.dump() == soak.baseline, why
    assert tagged(soak.tag_base, every=True) == [], why


def blocked_writing_stdout(pid):
    """True while PID sleeps in a write(2) to its fd 1, a full pipe."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            wchan = f.read()
        with open(f"/proc/{pid}/syscall") as f:
            call = f.read().split()
    except OSError:
        return False
    # (pipe_write, anon_pipe_write since Linux 6.x)
    return wchan.endswith("pipe_write") and len(call) > 1 and call[1] == "0x1"


def test_sigint_after_the_attach_completed_is_not_a_cancel(soak):
    """A SIGINT that comes once the attach has completed, while xdev
    prints its result and exits, has nothing left to cancel: the device
    is attached, and xdev says so and exits 0, as it does for a SIGINT
    that comes while it prints.  It used to die of it (its handler was
    gone: killed by SIGINT, which a shell reports as 130, "interrupted:
    what the operation wrote was undone") with the device attached, and
    its "attached" line lost unless already flushed.  The soak above hit
    that moment at random (a SIGINT 0.3 to 0.9 ms after the add's end);
    here a full stdout pipe holds xdev there: its output is flushed at
    exit, after the handler has gone."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    filled = 0
    for size in (4096, 1):      # a small write fits in a page's rest
        try:
            while True:
                filled += os.write(w, b"x" * size)
        except BlockingIOError:
            pass
    os.set_blocking(w, True)
    proc = subprocess.Popen(
        [SIM, "exec", "--domain", "0", "--", XDEV, "block-attach",
         "alice", soak.spec],
        env=soak.env, stdin=subprocess.DEVNULL, stdout=w,
        stderr=subprocess.PIPE)
    os.close(w)
    try:
        deadline = time.monotonic() + WAIT_S
        while not blocked_writing_stdout(proc.pid):
            assert proc.poll() is None, \
                f"xdev exited {proc.returncode}: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "xdev never wrote stdout"
            time.sleep(0.01)     # /proc tells no one: looked at again
        os.kill(proc.pid, signal.SIGINT)
        out = b""
        while chunk := os.read(r, 65536):
            out += chunk
        rc = proc.wait(timeout=WAIT_S)
        err = proc.stderr.read().decode()
    finally:
        os.close(r)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    out = out[filled:].decode()
    assert rc == 0, f"xdev exit {rc} after a late SIGINT; stdout {out!r}, " \
        f"stderr {err!r}; the device: {soak.present()}"
    assert out.startswith(f"attached vbd {VDEV} (devid {DEVID}) to alice")
    assert soak.attached() == []
    proc = soak.detach()
    assert proc.returncode == 0, proc.stderr
    assert soak.leftovers() == []
