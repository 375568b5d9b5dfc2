#!/usr/bin/env python3
"""A soak: random device operations by several actors on one simulated
host, with invariants checked all along (issue 19, part 4).

    make -C build soak [SOAK_MINUTES=2] [SOAK_SEED=N] [SOAK_DAEMON=c|o]
    tests/soak/soak.py --builddir build [--minutes M] [--seed N]
                       [--daemon c|o]

The actors, all on one host (C xenstored, or oxenstored with --daemon o):

- a long-lived Python Context in this process (run inside the host):
  add_async and remove_async with callbacks, some of them cancelled, and
  removals of a destroyed guest's devices by their id; the loop driven
  between actions;
- the CLI: `xdev block-attach/block-detach/network-attach/network-detach`
  in the host's environment, two in five of them SIGKILLed after a random
  delay, followed at once by `xdev recover --apply`;
- a driver domain running xdevd (vifs with backend= that domain), killed
  with -9 now and then and restarted after a random delay.

Random events: a driver fault set on a guest, dom0 or the driver domain
and cleared a little later; a guest destroyed and a new one created in its
seat; a guest writing nonsense into its own frontend nodes (state
999999999999, backend-id 0) over its own ring (`xdev-sim guest`).

Disks are image files attached through the real `block` script (loop
devices); NICs use the test script `ok` (tests/hotplug).  Every script run
is counted in XDEV_TEST_RECORD (the `ok` script's record).

One "test" is one invariant check: each Python operation completed exactly
once (its callback ran once, and the library never completed it twice);
after each `xdev recover --apply`, the killed command's device wholly
present or wholly absent and no device held by a dead actor; a detach of
a driver-domain device never left to the library's own deletion past its
hotplug timeout while xdevd runs there (check_daemon_removal); at the end,
after everything is detached, recovered and the domains destroyed: no
/xdev record, no backend or frontend node, no loop device on the soak's
images, no process of the soak left, the store as it was at the start,
the context's open files as many as at its start (a little slack).  A
violation prints the seed; --seed or SOAK_SEED replays the same draws (the
timing, and so the interleaving, is the machine's).

The only sleeps are the random delays that are the point of the test (the
delay before a SIGKILL, how long a fault or a dead xdevd lasts, the pace of
the actions); every other wait is on the thing itself.
"""
import argparse
import glob
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time

TAG = "XDEV_SOAK_TAG"
SEATS = 3               # guests alive at once
VBDS = ["xvdb", "xvdc", "xvdd"]
VIFS = [0, 1, 2, 3]     # devids; 0-1 in dom0, 2-3 in the driver domain
FD_SLACK = 4
FAULTS_FE = ["frontend-unresponsive", "frontend-refuse-close", "slow=200"]
FAULTS_BE = ["backend-unresponsive", "backend-delete-on-close", "slow=200",
             "connect-delay=100"]
HOSTILE = [("state", "999999999999"), ("backend-id", "0"),
           ("state", "-1"), ("backend", "/local/domain/0/backend/vbd/0/1")]
WAIT_S = 60


def vbd_devid(vdev):
    return 51712 + 16 * (ord(vdev[3]) - ord("a"))


class Results:
    def __init__(self, seed):
        self.seed = seed
        self.passed = 0
        self.failed = []

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed.append(f"{what}: {detail}")
            print(f"FAIL {what}: {detail} (seed {self.seed})", flush=True)
        return ok


# ---- the inner process: runs inside the host --------------------------------

class Soak:
    def __init__(self, host, args, res):
        import xdev
        import xdev.context
        self.xdev = xdev
        self.host, self.args, self.res = host, args, res
        self.rng = random.Random(args.seed)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.minutes * 60
        self.tag = os.environ[TAG]
        self.dir = os.path.join(host.dir, "soak")
        os.makedirs(self.dir, exist_ok=True)
        self.scripts = os.path.join(self.dir, "scripts")
        os.makedirs(self.scripts, exist_ok=True)
        os.symlink(os.path.join(args.srcdir, "hotplug", "block"),
                   os.path.join(self.scripts, "block"))
        os.symlink(os.path.join(args.srcdir, "tests", "hotplug", "ok"),
                   os.path.join(self.scripts, "ok"))
        self.record = os.path.join(self.dir, "scripts.record")
        self.lock_dir = os.path.join(self.dir, "lock")
        os.environ.update(XDEV_TEST_RECORD=self.record,
                          XDEV_HOTPLUG_LOCK_DIR=self.lock_dir,
                          XDEV_HOTPLUG_DIR=self.scripts)
        self.xdev_bin = os.path.join(args.builddir, "bin", ".libs", "xdev")
        if not os.path.exists(self.xdev_bin):
            self.xdev_bin = os.path.join(args.builddir, "bin", "xdev")
        self.env = dict(os.environ)
        self.env["LD_LIBRARY_PATH"] = ":".join(filter(None, [
            os.path.join(args.builddir, "lib", ".libs"),
            os.environ.get("LD_LIBRARY_PATH")]))
        # the simulated toolstack leaves /vm once a domain has existed (as
        # libxl does): the baseline is the store after one domain came and
        # went
        host.domain_destroy(host.domain_create("soakwarmup", "bare"))
        self.baseline = host.snapshot()
        self.next_domid = 10    # never reused: a gone domain's id stays gone
        # the images, one per seat and vdev
        self.images = {}
        for s in range(SEATS):
            for v in VBDS:
                path = os.path.join(self.dir, f"disk-{s}-{v}.img")
                with open(path, "wb") as f:
                    f.truncate(1 << 20)
                self.images[s, v] = path
        self.seats = [None] * SEATS     # domid of each seat's guest
        self.gone = set()                # domids destroyed
        self.ngen = 0
        for s in range(SEATS):
            self.new_guest(s)
        self.drv = host.domain_create("soakdrv", "driver", domid=5)
        self.xdevd = None
        self.xdevd_kills = 0
        self.start_xdevd()
        # the Python actor
        self.ops = {}                     # token -> [op, callbacks seen]
        self.py_issued = 0
        self.double = []
        soak = self

        class Watched(dict):
            """xdev.context._ops: a completion of a token no longer
            registered is the library completing an operation twice."""
            def pop(self, key, *default):
                if key not in self and key in soak.ops:
                    soak.double.append(key)
                return super().pop(key, *default)
        xdev.context._ops = Watched(xdev.context._ops)
        self.py_late = []       # the library's "not removed by xdevd"
        self.fds0 = len(os.listdir("/proc/self/fd"))
        self.ctx = xdev.Context(timeout_init=3, timeout_hotplug=8,
                                timeout_connect=3, timeout_remove=3,
                                hotplug_dir=self.scripts, queue_events=False,
                                log=self.py_log,
                                log_level=xdev.LogLevel.WARNING)
        self.fds_ctx = len(os.listdir("/proc/self/fd"))
        self.busy = {}                    # (domid, type, devid) -> who
        self.clis = []                    # running xdev commands
        self.timers = []                  # (when, what, fn)
        self.actions = 0
        self.stats = {"cli": 0, "killed": 0, "recovered": 0, "cancels": 0}

    # -- helpers
    def say(self, what):
        t = time.monotonic() - self.t0
        self.actions += 1
        print(f"[{t:7.2f}] #{self.actions} {what}", flush=True)

    def new_guest(self, seat):
        self.ngen += 1
        self.seats[seat] = self.host.domain_create(f"soak{seat}g{self.ngen}",
                                                   domid=self.next_domid)
        self.next_domid += 1

    def start_xdevd(self):
        self.xdevd = self.host.start_xdevd(
            self.drv, self.scripts,
            env={TAG: self.tag, "XDEV_TEST_RECORD": self.record,
                 "XDEV_HOTPLUG_LOCK_DIR": self.lock_dir})

    def xdev_cmd(self, *args):
        return [self.host.xdev_sim, "exec", "--domain", "0", "--",
                self.xdev_bin] + [str(a) for a in args]

    def run_xdev(self, *args):
        return subprocess.run(self.xdev_cmd(*args), env=self.env,
                              capture_output=True, text=True,
                              timeout=WAIT_S)

    def drive(self, timeout):
        n = self.ctx.run(timeout)
        if self.double:
            for token in self.double:
                self.res.check(False, "operation completed once",
                               f"library completed token {token} twice")
            self.double = []
        return n

    def device_key(self, domid, kind):
        if kind == "vbd":
            v = self.rng.choice(VBDS)
            return (domid, "vbd", vbd_devid(v)), v
        d = self.rng.choice(VIFS)
        return (domid, "vif", d), d

    def seat_of(self, domid):
        return self.seats.index(domid) if domid in self.seats else None

    def nodes(self, key):
        domid, kind, devid = key
        be = self.drv if (kind == "vif" and devid >= 2) else 0
        return {"frontend": f"/local/domain/{domid}/device/{kind}/{devid}",
                "backend": f"/local/domain/{be}/backend/{kind}/{domid}/"
                           f"{devid}",
                "record": f"/xdev/{domid}/{kind}/{devid}"}

    # -- the Python actor
    def py_log(self, level, message):
        if "not removed by the backend domain's xdevd" in message:
            self.py_late.append(message)

    def py_done(self, op):
        entry = self.ops[op._token]
        entry[1] += 1
        self.busy.pop(entry[2], None)
        domid, kind, devid = entry[2]
        if op.kind == "remove" and kind == "vif" and devid >= 2:
            # check_daemon_removal, for the context's removals
            be = f"/local/domain/{self.drv}/backend/vif/{domid}/{devid}:"
            late = [m for m in self.py_late if m.startswith(be)]
            self.py_late = [m for m in self.py_late if m not in late]
            up = entry[3][0] and self.xdevd is not None
            self.res.check(not (late and up), "xdevd gets the removal",
                           f"py remove {entry[2]} (guest "
                           f"{'destroyed' if domid in self.gone else 'alive'}"
                           f"; xdevd killed {self.xdevd_kills - entry[3][1]}"
                           f" times meanwhile): {' | '.join(late)}")
        self.res.check(entry[1] == 1, "callback once",
                       f"{entry[2]} callback ran {entry[1]} times")
        r = "ok" if op.code == 0 else f"{op.code} {op.message}"
        print(f"         py {op.kind} {entry[2]} done: {r}", flush=True)

    def track(self, op, key):
        self.ops[op._token] = [op, 0, key, (self.xdevd is not None,
                                            self.xdevd_kills)]
        self.py_issued += 1

    def act_py_add(self):
        domid = self.rng.choice(self.seats)
        kind = self.rng.choice(["vbd", "vif"])
        key, extra = self.device_key(domid, kind)
        if key in self.busy:
            return
        x = self.xdev
        if kind == "vbd":
            desc = x.Vbd(vdev=extra, target=self.images[self.seat_of(domid),
                                                         extra],
                         format="raw", access="rw")
        else:
            desc = x.Vif(devid=extra, script="ok",
                         backend=self.drv if extra >= 2 else None)
        wait = self.rng.random() < 0.5
        self.say(f"py add {key} wait_connected={wait}")
        try:
            op = self.ctx.add_async(domid, desc, wait_connected=wait,
                                    callback=self.py_done)
        except x.XdevError as e:
            print(f"         refused: {e.name} {e}", flush=True)
            return
        self.busy[key] = "py"
        self.track(op, key)

    def act_py_remove(self):
        domid = self.rng.choice(self.seats)
        try:
            devs = self.ctx.list_devices(domid)
        except self.xdev.XdevError as e:
            print(f"         list {domid}: {e.name}", flush=True)
            return
        devs = [d for d in devs
                if (domid, d.id.type.name.lower(), d.id.devid)
                not in self.busy]
        if not devs:
            return
        d = self.rng.choice(devs)
        key = (domid, d.id.type.name.lower(), d.id.devid)
        mode = self.rng.choice(["auto", "safe", "force"])
        self.say(f"py remove {key} {mode}")
        try:
            op = self.ctx.remove_async(d.id, mode, callback=self.py_done)
        except self.xdev.XdevError as e:
            print(f"         refused: {e.name} {e}", flush=True)
            return
        self.busy[key] = "py"
        self.track(op, key)

    def act_py_cancel(self):
        pending = [e for e in self.ops.values() if e[1] == 0]
        if not pending:
            return
        op, _, key, _ = self.rng.choice(pending)
        self.say(f"py cancel {op.kind} {key}")
        self.stats["cancels"] += 1
        op.cancel()

    def gone_records(self):
        """The devices xdev still records for a destroyed guest, not busy:
        [(domid, kind, devid)], of one gone domain drawn at random."""
        if not self.gone:
            return []
        domid = self.rng.choice(sorted(self.gone))
        found = []
        for kind in ("vbd", "vif"):
            proc = self.host.cmd("xenstore-list", f"/xdev/{domid}/{kind}",
                                 check=False)
            found += [(domid, kind, int(d)) for d in proc.stdout.split()
                      if (domid, kind, int(d)) not in self.busy]
        return found

    def act_py_remove_gone(self):
        """A device left in a destroyed guest's backend, removed by the
        context by its id (no listing: the domain is gone)."""
        found = self.gone_records()
        if not found:
            return
        key = self.rng.choice(found)
        domid, kind, devid = key
        x = self.xdev
        be = self.drv if (kind == "vif" and devid >= 2) else 0
        dev = x.DeviceId(x.DeviceType[kind.upper()], be, domid, devid)
        mode = self.rng.choice(["auto", "safe", "force"])
        self.say(f"py remove {key} {mode} (guest gone)")
        try:
            op = self.ctx.remove_async(dev, mode, callback=self.py_done)
        except x.XdevError as e:
            print(f"         refused: {e.name} {e}", flush=True)
            return
        self.busy[key] = "py"
        self.track(op, key)

    # -- the CLI
    def act_cli(self):
        domid = self.rng.choice(self.seats)
        kind = self.rng.choice(["vbd", "vif"])
        key, extra = self.device_key(domid, kind)
        if key in self.busy:
            return
        present = self.host.exists(self.nodes(key)["record"])
        if kind == "vbd" and not present:
            args = ["block-attach", domid,
                    f"format=raw, vdev={extra}, access=rw, "
                    f"target={self.images[self.seat_of(domid), extra]}"]
        elif kind == "vbd":
            args = ["block-detach", domid, key[2]]
        elif not present:
            args = ["network-attach", domid, f"devid={extra}", "script=ok"]
            if extra >= 2:
                args.append(f"backend={self.drv}")
        else:
            args = ["network-detach", domid, key[2]]
        opts = ["--timeout", "3", "--hotplug-timeout", "8"]
        if "attach" in args[0] and self.rng.random() < 0.5:
            opts.append("-w")
        if "detach" in args[0]:
            # "": the command's default (block-detach: safe)
            opts += [self.rng.choice(["--safe", "--force", "--auto", ""])]
            if not opts[-1]:
                opts.pop()
        self.start_cli(key, args, opts)

    def start_cli(self, key, args, opts):
        kill = None
        if self.rng.random() < 0.4:
            # most commands end within a quarter of a second
            kill = time.monotonic() + self.rng.uniform(0, 0.25)
        self.say(f"cli {' '.join(map(str, args[:1] + opts + args[1:]))}"
                 + (" (to be killed)" if kill else ""))
        # -v: the library's warnings (one is checked below)
        proc = subprocess.Popen(self.xdev_cmd("-v", *opts, *args),
                                env=self.env,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        self.busy[key] = "cli"
        self.stats["cli"] += 1
        self.clis.append({"proc": proc, "key": key, "kill": kill,
                          "args": args, "t": time.monotonic(),
                          "xdevd": (self.xdevd is not None,
                                    self.xdevd_kills)})

    def poll_clis(self, no_kill=False):
        for c in list(self.clis):
            p = c["proc"]
            if p.poll() is None and c["kill"] and not no_kill \
                    and time.monotonic() >= c["kill"]:
                p.kill()
                c["killed"] = True
                self.stats["killed"] += 1
            if p.poll() is None:
                continue
            err = p.stderr.read().strip()
            p.stderr.close()
            self.clis.remove(c)
            rc = p.returncode
            took = time.monotonic() - c["t"]
            print(f"         cli {c['args'][0]} {c['key']} exit {rc} "
                  f"after {took:.1f} s"
                  + (f": {err.splitlines()[-1]}" if err and rc else ""),
                  flush=True)
            self.check_daemon_removal(c, err)
            if c.get("killed") and rc == -signal.SIGKILL:
                self.recover(c["key"])
            self.busy.pop(c["key"], None)

    def check_daemon_removal(self, c, err):
        """A detach of a device in the driver domain is never left to the
        library's own deletion past its hotplug timeout while xdevd runs
        there (docs/library.md, "Driver domains": the library hands the
        backend over as Closed with online=0, which xdevd acts on, running
        the remove script before it deletes the backend; xdevd(8): a
        restarted xdevd completes at start-up the devices closed but not
        cleaned up).  So the library's warning "not removed by the backend
        domain's xdevd" is a violation when xdevd ran at the command's
        start and runs at its end (killed and restarted in between or not)."""
        domid, kind, devid = c["key"]
        if not (kind == "vif" and devid >= 2 and "detach" in c["args"][0]
                and not c.get("killed")):
            return
        late = "not removed by the backend domain's xdevd" in err
        up = c["xdevd"][0] and self.xdevd is not None
        gone = domid in self.gone
        self.res.check(not (late and up),
                       "xdevd gets the removal",
                       f"{c['args'][0]} {c['key']} (guest "
                       f"{'destroyed' if gone else 'alive'}; xdevd killed "
                       f"{self.xdevd_kills - c['xdevd'][1]} times meanwhile): "
                       + " | ".join(line for line in err.splitlines()
                                    if "xdevd" in line))

    def recover(self, key):
        proc = self.run_xdev("-j", "recover", "--apply")
        try:
            out = json.loads(proc.stdout)
            self.stats["recovered"] += len(out)
            out = json.dumps(out)
        except ValueError:
            out = proc.stdout.strip()
        print(f"         recover --apply: exit {proc.returncode} {out}",
              flush=True)
        self.res.check(proc.returncode == 0, "recover --apply succeeds",
                       f"exit {proc.returncode}: {proc.stderr.strip()}")
        n = self.nodes(key)
        have = {k: self.host.exists(p) for k, p in n.items()}
        owner = self.host.read(n["record"] + "/owner")
        # present: backend, record, no owner (the frontend may have gone
        # with a destroyed guest); absent: nothing
        whole = (have["backend"] and have["record"] and owner is None) \
            or not any(have.values())
        self.res.check(whole, "device whole after recover",
                       f"{key}: {have}, owner {owner!r}")
        self.check_no_dead_owner()

    def check_no_dead_owner(self):
        dead = []
        for domid in self.seats:
            for cmd in ("block-list", "network-list"):
                proc = self.run_xdev("-j", cmd, domid)
                if proc.returncode != 0:
                    continue        # the guest went meanwhile
                for d in json.loads(proc.stdout):
                    op = d.get("operation")
                    if op and op.get("alive") is False:
                        dead.append((domid, d["type"], d["devid"], op))
        self.res.check(not dead, "no device held by a dead actor",
                       repr(dead))

    # -- xdevd
    def act_kill_xdevd(self):
        if self.xdevd is None:
            return
        self.say("kill -9 xdevd in the driver domain")
        self.xdevd.proc.kill()
        self.xdevd.proc.wait()
        self.host._xdevds.remove(self.xdevd)
        self.xdevd = None
        self.xdevd_kills += 1
        self.timers.append((time.monotonic() + self.rng.uniform(0.2, 4),
                            "restart xdevd", self.start_xdevd))

    # -- events
    def act_fault(self):
        kind = self.rng.random()
        if kind < 0.4:
            dom = self.rng.choice(self.seats)
            fault = self.rng.choice(FAULTS_FE)
        else:
            dom = self.rng.choice([0, self.drv])
            fault = self.rng.choice(FAULTS_BE)
        self.say(f"fault {dom} {fault}")
        self.host.fault(dom, fault)
        self.timers.append((time.monotonic() + self.rng.uniform(0.5, 5),
                            f"fault-clear {dom}",
                            lambda: self.clear_fault(dom)))

    def clear_fault(self, dom):
        if dom in self.gone:
            return
        self.host.sim("fault", dom, "--clear", check=False)

    def act_guest_cycle(self):
        seat = self.rng.randrange(SEATS)
        old = self.seats[seat]
        self.say(f"destroy guest {old}, new one in seat {seat}")
        self.host.domain_destroy(old)
        self.gone.add(old)
        self.new_guest(seat)
        print(f"         new guest {self.seats[seat]}", flush=True)

    def act_hostile(self):
        domid = self.rng.choice(self.seats)
        kind = self.rng.choice(["vbd", "vif"])
        key, _ = self.device_key(domid, kind)
        node, value = self.rng.choice(HOSTILE)
        self.say(f"guest {domid} writes {kind}/{key[2]}/{node}={value}")
        self.host.sim("guest", domid, "write",
                      f"device/{kind}/{key[2]}/{node}", value, check=False)

    def act_detach_gone(self):
        """A device left in a destroyed guest's backend: the CLI detaches
        it by the dead domain's id."""
        found = self.gone_records()
        if not found:
            return
        key = self.rng.choice(found)
        domid, kind, devid = key
        cmd = "block-detach" if kind == "vbd" else "network-detach"
        # the library's default timeouts: a detach of a gone domain's
        # device is not expected to wait for any
        self.start_cli(key, [cmd, domid, devid], [])

    # -- the loop
    def step(self):
        now = time.monotonic()
        for t in [t for t in self.timers if t[0] <= now]:
            self.timers.remove(t)
            self.say(t[1])
            t[2]()
        self.poll_clis()
        r = self.rng.random()
        table = [(0.22, self.act_py_add), (0.40, self.act_py_remove),
                 (0.43, self.act_py_cancel), (0.46, self.act_py_remove_gone),
                 (0.70, self.act_cli), (0.74, self.act_kill_xdevd),
                 (0.80, self.act_fault), (0.84, self.act_guest_cycle),
                 (0.90, self.act_hostile), (0.95, self.act_detach_gone),
                 (1.0, None)]
        for bound, fn in table:
            if r < bound:
                if fn:
                    t = time.monotonic()
                    fn()
                    t = time.monotonic() - t
                    if t > 1:
                        print(f"         (that took {t:.1f} s)", flush=True)
                break
        # the pace: a random pause, the context's loop driven meanwhile
        until = time.monotonic() + self.rng.uniform(0, 0.3)
        while time.monotonic() < until:
            self.drive(until - time.monotonic())

    def settle(self):
        """Every command ended, every Python operation completed, every
        fault cleared, xdevd running."""
        for t in list(self.timers):
            self.timers.remove(t)
            self.say(t[1])
            t[2]()
        if self.xdevd is None:
            self.start_xdevd()
        for dom in [0, self.drv] + self.seats:
            self.clear_fault(dom)
        deadline = time.monotonic() + WAIT_S
        while (self.clis or self.ctx.pending) and \
                time.monotonic() < deadline:
            self.poll_clis(no_kill=True)
            self.drive(0.05)
        self.res.check(not self.clis and not self.ctx.pending,
                       "everything ends",
                       f"{len(self.clis)} commands, {len(self.ctx.pending)}"
                       " operations still running")

    def detach_all(self):
        for _ in range(3):
            recs = []
            for dom in self.host.cmd("xenstore-list", "/xdev",
                                     check=False).stdout.split():
                for kind in ("vbd", "vif"):
                    for devid in self.host.cmd(
                            "xenstore-list", f"/xdev/{dom}/{kind}",
                            check=False).stdout.split():
                        recs.append((dom, kind, devid))
            if not recs:
                return
            for dom, kind, devid in recs:
                p = self.run_xdev(f"{'block' if kind == 'vbd' else 'network'}"
                                  "-detach", "--force", dom, devid)
                self.say(f"final detach {dom} {kind} {devid}: exit "
                         f"{p.returncode} {p.stderr.strip()}")
            p = self.run_xdev("-j", "recover", "--apply")
            self.say(f"final recover: exit {p.returncode} "
                     f"{p.stdout.strip()[:500]}")

    def finish(self):
        print("---- the end: settle, detach everything, recover, destroy",
              flush=True)
        self.settle()
        self.check_no_dead_owner()
        self.detach_all()
        unfinished = [k for k, e in self.ops.items() if e[1] != 1]
        self.res.check(not unfinished, "every operation completed once",
                       f"{len(unfinished)} of {self.py_issued}")
        self.res.check(True, f"{self.py_issued} Python operations")
        fds = len(os.listdir("/proc/self/fd"))
        self.res.check(abs(fds - self.fds_ctx) <= FD_SLACK,
                       "the context's open files flat",
                       f"{self.fds_ctx} after its creation, {fds} now")
        self.ctx.close()
        fds = len(os.listdir("/proc/self/fd"))
        self.res.check(abs(fds - self.fds0) <= FD_SLACK,
                       "open files back after close",
                       f"{self.fds0} before the context, {fds} after")
        if self.xdevd:
            rc = self.xdevd.stop()
            self.host._xdevds.remove(self.xdevd)
            self.res.check(rc == 0, "xdevd stops cleanly", f"exit {rc}")
        for dom in self.seats + [self.drv]:
            self.host.domain_destroy(dom)
        recs = self.host.snapshot("/xdev")
        self.res.check(not [r for r in recs if "/owner" in r or
                            r.count("/") > 3],
                       "no /xdev record", "\n".join(recs))
        left = [r for r in self.host.snapshot()
                if "/backend/" in r or "/device/" in r]
        self.res.check(not left, "no device node", "\n".join(left))
        loops = self.host.loops()
        self.res.check(not loops, "no loop device on the images",
                       repr(loops))
        procs = tagged(self.tag, exclude=os.getpid())
        self.res.check(not procs, "no process of the soak left",
                       repr(procs))
        now = self.host.snapshot()
        diff = sorted(set(now) ^ set(self.baseline))
        self.res.check(not diff, "the store as at the start",
                       "\n".join(("+ " if d in now else "- ") + d
                                 for d in diff[:40]))
        runs = gone = 0
        if os.path.exists(self.record):
            with open(self.record) as f:
                lines = f.readlines()
            runs = len(lines)
            gone = sum(1 for line in lines if "backend-gone" in line)
        print(f"{self.actions} actions, {self.py_issued} Python operations,"
              f" {self.stats['cancels']} cancels asked,"
              f" {self.stats['cli']} commands ({self.stats['killed']} "
              f"killed, {self.stats['recovered']} devices recovered),"
              f" {self.xdevd_kills} xdevd kills, {runs} `ok` script runs,"
              f" {gone} of them remove scripts that found their backend "
              "already deleted", flush=True)


def tagged(tag, exclude=None):
    needle = f"{TAG}={tag}\0".encode()
    found = []
    for d in glob.glob("/proc/[0-9]*"):
        pid = int(d[6:])
        if pid == exclude:
            continue
        try:
            with open(f"{d}/environ", "rb") as f:
                if needle not in f.read() + b"\0":
                    continue
            with open(f"{d}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open(f"{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append((pid, cmd.strip()))
    return found


def _exit_on(signum, frame):
    """SIGTERM (CI's timeout, a developer's kill) ends the soak through its
    finally clauses: what it holds is released and the host stopped."""
    raise SystemExit(128 + signum)


def inner(args):
    signal.signal(signal.SIGTERM, _exit_on)
    with open(args.inner, "rb") as f:
        host = pickle.load(f)
    res = Results(args.seed)
    soak = Soak(host, args, res)
    try:
        while time.monotonic() < soak.deadline and not res.failed:
            soak.step()
    except BaseException as e:
        res.check(False, "the soak runs without an error", repr(e))
        raise
    finally:
        try:
            soak.finish()
        except BaseException as e:
            res.check(False, "the end runs without an error", repr(e))
            raise
        finally:
            with open(args.inner + ".result", "w") as f:
                json.dump({"passed": res.passed, "failed": res.failed}, f)


# ---- the outer process: the host ---------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", default=os.environ.get("XDEV_BUILDDIR",
                                                         "build"))
    ap.add_argument("--srcdir", default=os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument("--minutes", type=float,
                    default=float(os.environ.get("SOAK_MINUTES") or 2))
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("SOAK_SEED") or
                                random.SystemRandom().randrange(1 << 31)))
    ap.add_argument("--daemon", choices=["c", "o", "xenstored",
                                         "oxenstored"],
                    default=os.environ.get("SOAK_DAEMON") or "c")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.builddir = os.path.abspath(args.builddir)
    args.srcdir = os.path.abspath(args.srcdir)
    args.daemon = args.daemon[0]
    sys.path.insert(0, os.path.join(args.srcdir, "python"))
    if args.inner:
        return inner(args)

    os.environ.setdefault("XDEV_LIBRARY", os.path.join(
        args.builddir, "lib", ".libs", "libxdev.so"))
    os.environ.setdefault("XDEV_SIM", os.path.join(
        args.builddir, "tests", "sim", "xdev-sim"))
    os.environ.setdefault("XDEVD", os.path.join(args.builddir, "bin",
                                                "xdevd"))
    from xdev.testing import SimHost
    if os.geteuid() != 0:
        print("soak: loop devices need root")
        print("0 passed, 0 failed, 1 skipped")
        return 77
    print(f"soak: seed {args.seed}, {args.minutes} min, daemon "
          f"{args.daemon}", flush=True)
    tag = f"{os.getpid()}.{time.monotonic_ns()}"
    host = SimHost(args.daemon)
    res = Results(args.seed)
    path = os.path.join(host.dir, "soak.pickle")
    try:
        with open(path, "wb") as f:
            pickle.dump(host, f)
        env = dict(host.child_env(), **{TAG: tag})
        cmd = host.exec_args(0) + [sys.executable, os.path.abspath(__file__),
                                   "--inner", path, "--seed", str(args.seed),
                                   "--minutes", str(args.minutes),
                                   "--builddir", args.builddir,
                                   "--srcdir", args.srcdir]
        proc = subprocess.Popen(cmd, env=env)
        try:
            signal.signal(signal.SIGTERM, _exit_on)
            proc.wait()
        except SystemExit:
            # passed on: the soak process releases what it holds (its
            # loop devices, its xdevd) before the host stops
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        res.check(proc.returncode == 0, "the soak process exits 0",
                  f"exit {proc.returncode}")
        try:
            with open(path + ".result") as f:
                got = json.load(f)
            res.passed += got["passed"]
            res.failed += got["failed"]
        except (OSError, ValueError):
            res.check(False, "the soak process ends with its results",
                      f"exit {proc.returncode}")
    finally:
        try:
            host.stop()
            res.check(True, "the host stops, nothing of it left")
        except AssertionError as e:
            res.check(False, "the host stops, nothing of it left", str(e))
    left = tagged(tag)
    res.check(not left, "no process of the soak after the host's stop",
              repr(left))
    if res.failed:
        print(f"soak FAILED, seed {args.seed}: replay with SOAK_SEED="
              f"{args.seed} (--seed {args.seed}), daemon {args.daemon}")
        for f in res.failed:
            print(f"  {f}")
    print(f"{res.passed} passed, {len(res.failed)} failed, 0 skipped")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
