"""pytest fixtures for the simulated Xen host (xdev.testing.SimHost).

Use them with `pytest_plugins = ["xdev.pytest_plugin"]` in a top-level
conftest.py, or `-p xdev.pytest_plugin`, or import the fixtures by name.

- xdev_sim_host: a host for one test, run once with C xenstored and once
  with oxenstored; stopped after the test, which fails if the host leaves
  anything behind (its directory, processes, loop devices on its files or
  on files in the test's tmp_path, where its images go) or if an xdevd
  it started did not exit 0 on SIGTERM (unless its domain was destroyed).
- xdev_sim_hosts: a factory, hosts(daemon="c", **SimHost options), for
  tests that want several or special hosts; all stopped after the test.

Code using libxdev runs inside the host through host.call(func, ...) (a
child process; see xdev.testing for why).
"""
import pytest

from xdev.testing import SimHost


@pytest.fixture
def xdev_sim_hosts(tmp_path):
    hosts = []

    def start(daemon="c", **kw):
        h = SimHost(daemon, **kw)
        hosts.append(h)
        return h

    yield start
    errors = []
    for h in hosts:
        try:
            h.stop(image_dirs=(str(tmp_path),))
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "; ".join(errors)


@pytest.fixture(params=["c", "o"], ids=["xenstored", "oxenstored"])
def xdev_sim_host(request, xdev_sim_hosts):
    return xdev_sim_hosts(request.param)
