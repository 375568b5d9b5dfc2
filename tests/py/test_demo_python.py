"""The README's Python demo (tests/demo.py) and docs/python.md's examples
run as documented and leave nothing behind."""
import os
import re
import sys

import pytest

from conftest import BUILDDIR, SRCDIR, XDEV_SIM, run


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="the demo uses a loop device: root only")
def test_python_demo():
    proc = run([sys.executable, os.path.join(SRCDIR, "tests", "demo.py"),
                BUILDDIR])
    out = proc.stdout
    assert re.search(r"^added vbd/51728@\d+\(backend 0\) and "
                     r"vif/0@\d+\(backend \d+\)$", out, re.M), out
    assert re.search(r"vbd/51728@\d+\(backend 0\): frontend CONNECTED, "
                     r"backend CONNECTED, online True", out), out
    assert re.search(r"^DEVICE_GONE for vif/0@", out, re.M), out
    assert "removing it now: XDEV_E_NO_DEVICE" in out
    assert "devices left: 0" in out
    hostdir = re.search(r"^host directory: (\S+)$", out, re.M).group(1)
    assert not os.path.exists(hostdir)


def docs_example(path, marker):
    """The ```python block of docs/PATH that contains MARKER, verbatim."""
    with open(os.path.join(SRCDIR, "docs", path)) as f:
        text = f.read()
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        if marker in block:
            return block
    raise AssertionError(f"no python example with {marker!r} in {path}")


def run_example(tmp_path, marker, args=(), host=None):
    """docs/python.md's example with MARKER, saved as a script and run as
    a reader would run it (the binding from the tree, libxdev and
    xdev-sim from the build), with ARGS; inside HOST (xdev-sim exec) if
    given.  Its (stdout, stderr)."""
    script = tmp_path / "example.py"
    script.write_text(docs_example("python.md", marker))
    env = dict(host.env if host else os.environ,
               PYTHONPATH=os.path.join(SRCDIR, "python"),
               XDEV_LIBRARY=os.path.join(BUILDDIR, "lib", ".libs",
                                         "libxdev.so"),
               XDEV_BUILDDIR=BUILDDIR)
    cmd = [sys.executable, str(script)] + [str(a) for a in args]
    if host:
        cmd = [XDEV_SIM, "exec", "--"] + cmd
    proc = run(cmd, env=env, cwd=str(tmp_path))
    return proc.stdout, proc.stderr


needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the example's host has its own "
                                "network namespace: root only")


@needs_root
def test_python_md_simhost_example_runs_as_written(tmp_path):
    """The SimHost example prints the NIC it added and leaves no host."""
    out, err = run_example(tmp_path, "SimHost(")
    assert re.fullmatch(r"vif/0@\d+\(backend 0\)\n", out), out + err


@needs_root
def test_python_md_asyncio_example_runs_as_written(tmp_path):
    """The xdev.aio example adds two NICs at once, removes them, reads
    the four OP_DONE from its stream and leaves no host."""
    out, err = run_example(tmp_path, "xdev.aio.AsyncContext(")
    assert re.fullmatch(r"\['vif/0@(\d+)\(backend 0\)', "
                        r"'vif/1@\1\(backend 0\)'\]\n", out), out + err


@needs_root
def test_python_md_first_example_runs_as_written(host, tmp_path):
    """The first example, given a guest and a block device as its note
    says, on a simulated host with bridge xenbr0: it lists the disk
    Connected and the NIC, removes both, and the store has neither."""
    g = int(host.sim("domain-create", "alice").stdout)
    image = tmp_path / "data.img"
    image.write_bytes(b"\0" * (1 << 20))
    dev = run(["losetup", "--find", "--show", str(image)]).stdout.strip()
    try:
        host.sim("exec", "--", "ip", "link", "add", "xenbr0", "type",
                 "bridge")
        out, err = run_example(tmp_path, "timeout_remove=5", (g, dev), host)
    finally:
        run(["losetup", "--detach", dev], check=False)
    assert re.fullmatch(rf"vbd/51728@{g}\(backend 0\) CONNECTED\n"
                        rf"vif/0@{g}\(backend 0\) [A-Z_]+\n", out), out + err
    for path in (f"/local/domain/{g}/device", f"/local/domain/0/backend/vbd/{g}",
                 f"/local/domain/0/backend/vif/{g}"):
        assert host.xs("xenstore-ls", path, check=False).stdout == "", path
