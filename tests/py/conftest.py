"""pytest fixtures for the simulated host, driven through xdev-sim.

XDEV_BUILDDIR names the build tree (set by tests/run-tests.py); the tests
use its xdev-sim.  `host` starts a host for one test and stops it after,
failing the test if the stop leaves anything behind.
"""
import os
import shlex
import subprocess
import sys

import pytest

BUILDDIR = os.environ.get("XDEV_BUILDDIR", os.getcwd())
SRCDIR = os.environ.get("XDEV_SRCDIR",
                        os.path.dirname(os.path.dirname(os.path.dirname(
                            os.path.abspath(__file__)))))
XDEV_SIM = os.path.join(BUILDDIR, "tests", "sim", "xdev-sim")


def _sanitized():
    """The build tree was configured with --enable-sanitizers (its
    config.h says so): its programs carry ASan, which valgrind cannot
    run."""
    try:
        with open(os.path.join(BUILDDIR, "config.h")) as f:
            return "#define XDEV_SANITIZERS 1" in f.read()
    except FileNotFoundError:
        return False


SANITIZED = _sanitized()

# The Python binding (python/xdev, docs/python.md) from the source tree,
# with the build tree's libxdev, xdev-sim and xdevd.  Importing xdev here
# creates no context: code using the library runs inside a host, through
# xdev.testing.SimHost.call (xdev/pytest_plugin.py has its fixtures).
sys.path.insert(0, os.path.join(SRCDIR, "python"))
os.environ.setdefault("XDEV_LIBRARY", os.path.join(BUILDDIR, "lib", ".libs",
                                                   "libxdev.so"))
os.environ.setdefault("XDEV_SIM", XDEV_SIM)
os.environ.setdefault("XDEVD", os.path.join(BUILDDIR, "bin", "xdevd"))


def run(args, env=None, check=True, **kw):
    """Run a command; returns CompletedProcess with text output."""
    proc = subprocess.run(args, env=env, capture_output=True, text=True,
                          timeout=60, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: "
                             f"{proc.stderr.strip()}")
    return proc


def parse_env(text):
    """The `export K='v'` lines xdev-sim start prints, as a dict."""
    env = {}
    for line in text.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        key, _, value = words[1].partition("=")
        env[key] = value
    return env


class Host:
    """A running simulated host and the environment to reach it."""

    def __init__(self, daemon="c", netns=None, extra=()):
        args = [XDEV_SIM, "start", "--daemon", daemon] + list(extra)
        if netns is False:
            args.append("--no-netns")
        out = run(args).stdout
        self.vars = parse_env(out)
        self.dir = self.vars["XDEV_SIM_DIR"]
        self.env = dict(os.environ, **self.vars)

    def sim(self, *args, check=True):
        return run([XDEV_SIM] + list(args), env=self.env, check=check)

    def xs(self, tool, *args, check=True):
        return run([tool] + list(args), env=self.env, check=check)

    def pid(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return int(f.read())

    def stop(self):
        self.sim("stop")


def pid_alive(pid):
    """True while PID runs.  A zombie has ended: a supervisor started by
    `xdev-sim start` is reaped by init, not by us."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture(params=["c", "o"], ids=["xenstored", "oxenstored"])
def host(request):
    h = Host(request.param)
    yield h
    if os.path.isdir(h.dir):
        h.stop()
    assert not os.path.exists(h.dir), f"{h.dir} left behind"


# The long suites: `make check-long` runs them, `make check` the others.
LONG_FILES = ("test_lifecycle.py",)


def pytest_collection_modifyitems(config, items):
    """XDEV_PYTEST_SELECT=quick drops the long suites (LONG_FILES), =long
    keeps only them (unset: all).  XDEV_PYTEST_SHARD=K/N keeps every N-th
    test starting at the K-th (tests/run-tests.py runs N shards at once:
    the suites mostly wait on timeouts and drivers, and every test has its
    own host)."""
    select = os.environ.get("XDEV_PYTEST_SELECT")
    if select in ("quick", "long"):
        want_long = select == "long"
        keep, drop = [], []
        for item in items:
            is_long = os.path.basename(str(item.fspath)) in LONG_FILES
            (keep if is_long == want_long else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
    shard = os.environ.get("XDEV_PYTEST_SHARD")
    if not shard:
        return
    k, n = (int(x) for x in shard.split("/"))
    keep, drop = [], []
    for i, item in enumerate(items):
        (keep if i % n == k else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
