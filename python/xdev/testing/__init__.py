"""The simulated Xen host for tests: xdev's own and other projects'.

SimHost starts a host with `xdev-sim` (docs/simulated-host.md), creates
domains, injects faults, starts xdevd in driver domains, and runs Python
code *inside* the host: a process using libxdev must have libfakexen.so
preloaded (so that its libxenctrl calls reach the simulated hypervisor) and
live in the host's network namespace, and a test runner cannot become that
after it has started.  So SimHost.call(func, ...) runs FUNC (a module-level
function, with picklable arguments) in a fresh Python child started by
`xdev-sim exec --domain 0` - preloaded, in the host's namespace, with the
host's environment - and returns its result or raises its exception (with
the child's traceback as a note).  A crash of the library there fails only
that call.

The pytest fixtures are in xdev.pytest_plugin.

Which xdev-sim: the XDEV_SIM argument or variable, else the build tree's
($XDEV_BUILDDIR/tests/sim/xdev-sim), else the one on PATH.
"""
import os
import pickle
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

__all__ = ["SimHost", "Xdevd", "ChildError", "find_xdev_sim"]


class ChildError(Exception):
    """The child of SimHost.call failed in a way that cannot be re-raised
    as its own exception (it crashed, or its exception does not pickle)."""


def find_xdev_sim():
    path = os.environ.get("XDEV_SIM")
    if path:
        return path
    build = os.environ.get("XDEV_BUILDDIR")
    if build and os.path.exists(os.path.join(build, "tests/sim/xdev-sim")):
        return os.path.join(build, "tests/sim/xdev-sim")
    found = shutil.which("xdev-sim")
    if not found:
        raise FileNotFoundError("xdev-sim not found: set XDEV_SIM or "
                                "XDEV_BUILDDIR, or install xdev")
    return found


def _parse_env(text):
    env = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export":
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


class Xdevd:
    """xdevd running inside a driver domain (see SimHost.start_xdevd)."""

    def __init__(self, host, domain, proc, log):
        self.host, self.domain, self.proc, self.log = host, domain, proc, log
        self.ready = threading.Event()
        self.ready_seen = False
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()

    def _copy(self):
        with open(self.log, "ab") as out:
            for line in self.proc.stdout:
                out.write(line)
                out.flush()
                if b"watching /local/domain/" in line:
                    self.ready_seen = True
                    self.ready.set()
        self.ready.set()  # it ended: whoever waits must look

    def said(self):
        """Its log so far."""
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def running(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM; returns its exit status (0 after a clean stop; -9 if
        its domain was destroyed, which kills every program in it)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"xdevd in domain {self.domain} ignored "
                                 f"SIGTERM: {self.said()}") from None
        finally:
            self._copier.join(10)


class SimHost:
    """A running simulated host.  Use as a context manager, or call
    stop(), which fails (AssertionError) if anything is left behind."""

    def __init__(self, daemon="c", *, netns=True, xdev_sim=None, extra=()):
        self.daemon = daemon
        self.xdev_sim = xdev_sim or find_xdev_sim()
        args = [self.xdev_sim, "start", "--daemon", daemon] + list(extra)
        if not netns:
            args.append("--no-netns")
        out = self._run(args, os.environ).stdout
        self.vars = _parse_env(out)
        self.dir = self.vars["XDEV_SIM_DIR"]
        self.env = dict(os.environ, **self.vars)
        self._xdevds = []
        with open(os.path.join(self.dir, "supervisor.pid")) as f:
            self.supervisor = int(f.read())

    # pickled into SimHost.call's child: no processes
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_xdevds"] = []
        return state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @staticmethod
    def _run(args, env, check=True, timeout=60, **kw):
        proc = subprocess.run(args, env=env, capture_output=True, text=True,
                              timeout=timeout, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"{shlex.join(args)} exited "
                                 f"{proc.returncode}: {proc.stderr.strip()}")
        return proc

    # ---- commands ------------------------------------------------------

    def sim(self, *args, check=True, timeout=60):
        """Run `xdev-sim ARGS` against this host."""
        return self._run([self.xdev_sim] + [str(a) for a in args], self.env,
                         check=check, timeout=timeout)

    def cmd(self, *args, check=True, timeout=60):
        """Run a command (xenstore-ls, ...) in the host's environment."""
        return self._run([str(a) for a in args], self.env, check=check,
                         timeout=timeout)

    def domain_create(self, name, kind="guest", domid=None):
        """Create a domain: KIND guest, driver (a driver domain) or bare;
        returns its domid."""
        args = ["domain-create"]
        if domid is not None:
            args += ["--domid", domid]
        if kind == "driver":
            args.append("--driver-domain")
        elif kind == "bare":
            args.append("--bare")
        elif kind != "guest":
            raise ValueError(f"unknown domain kind {kind!r}")
        return int(self.sim(*args, name).stdout)

    def domain_destroy(self, domain, keep_store=False):
        args = ["domain-destroy"] + (["--keep-store"] if keep_store else [])
        self.sim(*args, domain)

    def domains(self):
        """{name: (domid, state)} of the domains that exist."""
        out = {}
        for line in self.sim("domain-list").stdout.splitlines():
            words = line.split()
            if len(words) >= 3 and words[1].isdigit():
                out[words[0]] = (int(words[1]), words[2])
        return out

    def fault(self, domain, *faults, device=None):
        """Make DOMAIN's drivers misbehave (no FAULTS: remove the rule for
        DEVICE, 'TYPE/DEVID[@FRONTEND]', or for all)."""
        args = ["fault", domain] + (["--device", device] if device else [])
        self.sim(*args, *faults)

    def fault_clear(self, domain):
        self.sim("fault", domain, "--clear")

    def kexec(self, domain, timeout=60):
        self.sim("kexec", domain, timeout=timeout)

    def wait(self, path, value=None, timeout=10):
        """Wait (a watch) until PATH reads VALUE (None: until it is gone);
        False at the timeout."""
        args = ["wait", "--timeout", timeout, path]
        if value is not None:
            args.append(value)
        return self.sim(*args, check=False,
                        timeout=timeout + 30).returncode == 0

    # ---- the store -----------------------------------------------------

    def read(self, path):
        """PATH's value, or None if it does not exist."""
        proc = self.cmd("xenstore-read", path, check=False)
        return proc.stdout[:-1] if proc.returncode == 0 else None

    def exists(self, path):
        return self.cmd("xenstore-exists", path, check=False).returncode == 0

    def snapshot(self, path="/"):
        """Every node under PATH with its value and permissions, one
        sorted line each: for comparing the store before and after."""
        proc = self.cmd("xenstore-ls", "-f", "-p", path, check=False)
        if proc.returncode != 0:
            return []
        return sorted(proc.stdout.splitlines())

    # ---- inside the host -----------------------------------------------

    def exec_args(self, domain=0):
        """The command prefix that runs a program in DOMAIN: dom0 (with
        libfakexen.so preloaded, in the host's network namespace) or a
        driver domain (its store connection and namespace)."""
        return [self.xdev_sim, "exec", "--domain", str(domain), "--"]

    def links(self, domain=0):
        """Network interfaces of DOMAIN's namespace (dom0: the host's)."""
        out = self._run(self.exec_args(domain) + ["ip", "-o", "link"],
                        self.env).stdout
        return sorted(line.split(":")[1].strip().split("@")[0]
                      for line in out.splitlines())

    def loops(self, dirs=()):
        """Loop devices whose backing file is in the host's directory or
        in one of DIRS (a test's own directory for its images)."""
        roots = [os.path.realpath(d).rstrip("/") + "/"
                 for d in (self.dir,) + tuple(dirs)]
        found = []
        for name in sorted(os.listdir("/sys/block")):
            path = f"/sys/block/{name}/loop/backing_file"
            try:
                with open(path) as f:
                    backing = f.read().strip()
            except OSError:
                continue
            backing = backing.removesuffix(" (deleted)")
            if any(backing.startswith(r) for r in roots):
                found.append(f"/dev/{name}")
        return found

    def start_xdevd(self, domain, hotplug_dir=None, *, timeout=None,
                    env=None, args=()):
        """Start xdevd inside driver domain DOMAIN (dom0: for daemon
        mode); returns an Xdevd.  Its log is in the host's directory.  The
        pytest fixture stops every xdevd it started."""
        log = os.path.join(self.dir, f"xdevd-{domain}-{len(self._xdevds)}"
                           ".log")
        # its state directory is the host's: kept across restarts of
        # xdevd in one domain, never shared with another host's
        state = os.path.join(self.dir, f"xdevd-state-{domain}")
        cmd = self.exec_args(domain) + [self.xdevd_path(), "-v",
                                        "--state-dir", state]
        if hotplug_dir:
            cmd += ["--hotplug-dir", hotplug_dir]
        if timeout:
            cmd += ["--timeout", str(timeout)]
        cmd += list(args)
        proc = subprocess.Popen(cmd, env=dict(self.env, **(env or {})),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        x = Xdevd(self, domain, proc, log)
        self._xdevds.append(x)
        # ready once it says it watches its backend directory (its first
        # line); a thread copies its output to the log meanwhile
        if not x.ready.wait(30):
            raise AssertionError(f"xdevd in {domain} did not start: "
                                 f"{x.said()}")
        if not x.running() and not x.ready_seen:
            raise AssertionError(f"xdevd in {domain} exited "
                                 f"{proc.returncode}: {x.said()}")
        return x

    def xdevd_path(self):
        path = os.environ.get("XDEVD")
        if path:
            return path
        build = os.environ.get("XDEV_BUILDDIR")
        if build and os.path.exists(os.path.join(build, "bin/xdevd")):
            return os.path.join(build, "bin/xdevd")
        for d in (os.path.dirname(self.xdev_sim), "/usr/sbin", "/sbin"):
            p = os.path.join(os.path.dirname(d), "sbin", "xdevd")
            if os.path.exists(p):
                return p
        return shutil.which("xdevd") or "xdevd"

    def child_env(self):
        """The environment of SimHost.call's child: the host's, and this
        process's sys.path as PYTHONPATH (the test modules and xdev)."""
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        return env

    def call(self, func, *args, timeout=300, **kwargs):
        """Run FUNC(*ARGS, **KWARGS) in a Python child inside the host
        (dom0, libfakexen.so preloaded, the host's namespace); return its
        result or raise its exception."""
        ref = func
        if getattr(func, "__module__", None) == "__main__":
            # a script's function: the child loads the script by its path
            ref = ("__main__", os.path.abspath(sys.modules["__main__"]
                                               .__file__), func.__qualname__)
        payload = pickle.dumps((ref, args, kwargs))
        with tempfile.NamedTemporaryFile(dir=self.dir, prefix="call-",
                                         delete=False) as f:
            result_path = f.name
        try:
            proc = subprocess.run(
                self.exec_args(0) + [sys.executable, "-m",
                                     "xdev.testing._child", result_path],
                input=payload, env=self.child_env(), timeout=timeout)
            with open(result_path, "rb") as f:
                data = f.read()
        finally:
            os.unlink(result_path)
        if not data:
            raise ChildError(f"{getattr(func, '__name__', func)} in the "
                             f"host exited {proc.returncode} without a "
                             "result (see its stderr)")
        kind, value, tb = pickle.loads(data)
        if kind == "ok":
            return value
        if value is None:
            raise ChildError(tb)
        if hasattr(value, "add_note"):
            value.add_note("in the host's child process:\n" + tb)
        raise value

    # ---- the end -------------------------------------------------------

    def stop_xdevds(self):
        """Stop every xdevd started here; AssertionError unless each
        exited 0 (or was killed with its domain)."""
        problems = []
        alive = {str(d) for d, _ in self.domains().values()} | \
            set(self.domains())
        for x in self._xdevds:
            rc = x.stop()
            # a destroyed domain's programs die with it, one way or
            # another (killed, or the store connection lost first)
            if rc != 0 and str(x.domain) in alive:
                problems.append(f"xdevd in {x.domain} exited {rc}: "
                                f"{x.said()[-2000:]}")
        self._xdevds = []
        if problems:
            raise AssertionError("; ".join(problems))

    def stop(self, image_dirs=()):
        """Stop the host; AssertionError if anything is left behind: its
        directory, its processes, loop devices on its files or on files
        in IMAGE_DIRS (the pytest fixtures pass the test's tmp_path)."""
        try:
            if self._xdevds:
                self.stop_xdevds()
        finally:
            loops = self.loops(image_dirs)
            if os.path.isdir(self.dir):
                self.sim("stop")
        problems = []
        if os.path.exists(self.dir):
            problems.append(f"{self.dir} left behind")
        if _pid_alive(self.supervisor):
            problems.append(f"supervisor {self.supervisor} still runs")
        if loops:
            problems.append(f"loop devices left: {loops}")
        if problems:
            raise AssertionError("; ".join(problems))
