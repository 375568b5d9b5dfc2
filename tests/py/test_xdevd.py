"""xdevd's command line: bad usage, no store, the unit file.  Its behaviour
with the library is in tests/unit/check_xdevd.c."""
import os
import signal
import subprocess

import pytest

from conftest import BUILDDIR, run

XDEVD = os.path.join(BUILDDIR, "bin", "xdevd")


@pytest.mark.parametrize("args, message", [
    (["--timeout", "0"], "--timeout '0' is not a number of seconds"),
    (["--timeout", "1e3"], "--timeout '1e3' is not a number of seconds"),
    (["--domid", "-1"], "--domid '-1' is not a domain id"),
    (["--domid", "32752"], "--domid '32752' is not a domain id"),
    (["--hotplug-dir", "scripts"], "--hotplug-dir 'scripts' must be an absolute path"),
    (["extra"], "unexpected argument 'extra'"),
    (["--bogus"], "bad option"),
])
def test_bad_usage_exits_2_with_a_message(args, message):
    proc = run([XDEVD] + args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Try 'xdevd --help'" in proc.stderr


def test_help_and_version():
    assert "--hotplug-dir" in run([XDEVD, "--help"]).stdout
    assert run([XDEVD, "--version"]).stdout.startswith("xdevd ")


def test_no_store_exits_1(tmp_path):
    env = dict(os.environ, XENSTORED_PATH=str(tmp_path / "no-socket"))
    proc = run([XDEVD], env=env, check=False)
    assert proc.returncode == 1
    assert "cannot connect to the store" in proc.stderr


def test_in_a_driver_domain_it_stops_cleanly_on_sigterm(host):
    domid = host.sim("domain-create", "--driver-domain", "drv").stdout.strip()
    proc = subprocess.Popen(
        [os.path.join(BUILDDIR, "tests", "sim", "xdev-sim"), "exec",
         "--domain", domid, "--", XDEVD, "-v"],
        env=host.env, stderr=subprocess.PIPE, text=True)
    try:
        # its first line says it watches its own backend directory
        line = proc.stderr.readline()
        assert f"domain {domid}: watching /local/domain/{domid}/backend" in line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_unit_names_the_installed_daemon():
    with open(os.path.join(BUILDDIR, "bin", "xdevd.service")) as f:
        unit = f.read()
    assert "ExecStart=/" in unit and "/xdevd --hotplug-dir /" in unit
    assert "@" not in unit
