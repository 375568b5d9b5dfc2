"""xdev-sim from the shell: what a user of the simulated host sees.

Every observation goes through the real xenstored, with the real
xenstore-utils clients, or through /proc.
"""
import os
import subprocess

import pytest

from conftest import XDEV_SIM, Host, pid_alive, run


def netns_inode(pid):
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def netns_in_use(ino):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == ino:
                    return True
            except OSError:
                pass
    return False


@pytest.mark.parametrize("daemon", ["c", "o"])
def test_start_serves_store_and_stop_leaves_nothing(daemon):
    h = Host(daemon)
    sup, dmn = h.pid("supervisor.pid"), h.pid("daemon.pid")
    assert pid_alive(sup) and pid_alive(dmn)
    assert os.path.exists(h.vars["XENSTORED_PATH"])
    assert h.xs("xenstore-read", "/local/domain/0/name").stdout == "Domain-0\n"
    ns = netns_inode(sup) if os.geteuid() == 0 else None
    if ns is not None:
        assert ns != netns_inode(os.getpid()), "host shares our namespace"
    h.stop()
    assert not os.path.exists(h.dir)
    assert not pid_alive(sup) and not pid_alive(dmn)
    if ns is not None:
        assert not netns_in_use(ns), "network namespace left behind"


def test_domain_create_list_destroy(host):
    domid = host.sim("domain-create", "alice").stdout.strip()
    assert host.xs("xenstore-read",
                   f"/local/domain/{domid}/name").stdout == "alice\n"
    assert "alice" in host.sim("domain-list").stdout
    host.sim("domain-destroy", "alice")
    assert "alice" not in host.sim("domain-list").stdout
    gone = host.xs("xenstore-read", f"/local/domain/{domid}/name",
                   check=False)
    assert gone.returncode != 0


def test_destroy_fires_release_domain_for_a_watcher(host):
    host.sim("domain-create", "bob")
    watcher = subprocess.Popen(["xenstore-watch", "-n", "2", "@releaseDomain"],
                               env=host.env, stdout=subprocess.PIPE, text=True)
    try:
        # The registration fires once; after it the watch is in place.
        assert watcher.stdout.readline().strip() == "@releaseDomain"
        host.sim("domain-destroy", "bob")
        assert watcher.stdout.readline().strip() == "@releaseDomain"
        assert watcher.wait(timeout=10) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()


def test_shutdown_keeps_the_domain(host):
    domid = host.sim("domain-create", "carol").stdout.strip()
    host.sim("domain-shutdown", "--reason", "reboot", "carol")
    listing = host.sim("domain-list").stdout
    assert any(line.split()[:3] == ["carol", domid, "shutdown"]
               for line in listing.splitlines())
    assert host.xs("xenstore-read",
                   f"/local/domain/{domid}/name").stdout == "carol\n"


def store_dump(host):
    return host.xs("xenstore-ls", "-p", "/").stdout


@pytest.mark.parametrize("args,code,message", [
    (["domain-create", "../etc"], 1, "invalid domain name"),
    (["domain-create", "a/b"], 1, "invalid domain name"),
    (["domain-create", "7up"], 1, "invalid domain name"),
    (["domain-create", "--help"], 1, "invalid domain name"),
    (["domain-create", "x" * 64], 1, "invalid domain name"),
    (["domain-create", "--domid", "0", "z"], 2, "not a domid"),
    (["domain-create", "--domid", "abc", "z"], 2, "not a domid"),
    (["domain-create", "--domid", "40000", "z"], 2, "not a domid"),
    (["domain-destroy", "nobody"], 1, "no domain 'nobody'"),
    (["domain-destroy", "0"], 1, "domain 0 cannot be destroyed"),
    (["domain-shutdown", "--reason", "nap", "0"], 2, "unknown reason"),
    (["guest", "nobody", "read", "name"], 1, "no domain 'nobody'"),
    (["frobnicate"], 2, "unknown command"),
])
def test_bad_input_is_refused_and_changes_nothing(host, args, code, message):
    before = store_dump(host)
    proc = host.sim(*args, check=False)
    assert proc.returncode == code
    assert message in proc.stderr
    assert store_dump(host) == before


def test_duplicate_domain_name_is_refused(host):
    host.sim("domain-create", "dup")
    before = store_dump(host)
    proc = host.sim("domain-create", "dup", check=False)
    assert proc.returncode == 1 and "a domain named 'dup' exists" in proc.stderr
    assert store_dump(host) == before


@pytest.mark.parametrize("where", ["before", "after"])
def test_dir_before_or_after_start(tmp_path, where):
    """`xdev-sim --dir D start` and `xdev-sim start --dir D`
    (docs/simulated-host.md's form) both make the host in D, which
    `--dir D stop` removes."""
    d = str(tmp_path / "host")
    env = {k: v for k, v in os.environ.items() if k != "XDEV_SIM_DIR"}
    args = (["--dir", d, "start"] if where == "before"
            else ["start", "--dir", d])
    proc = run([XDEV_SIM] + args + ["--no-netns"], env=env)
    try:
        assert f"XDEV_SIM_DIR='{d}'" in proc.stdout
        assert os.path.isdir(d)
    finally:
        run([XDEV_SIM, "--dir", d, "stop"], env=env)
    assert not os.path.exists(d)


def test_commands_without_a_host_say_so():
    env = {k: v for k, v in os.environ.items() if k != "XDEV_SIM_DIR"}
    proc = run([XDEV_SIM, "domain-list"], env=env, check=False)
    assert proc.returncode == 1
    assert "no host given" in proc.stderr


def test_guest_is_an_unprivileged_domain(host):
    domid = host.sim("domain-create", "dana").stdout.strip()
    host.sim("guest", "dana", "write", "data/x", "42")
    assert host.xs("xenstore-read",
                   f"/local/domain/{domid}/data/x").stdout == "42\n"
    proc = host.sim("guest", "dana", "write",
                    f"/local/domain/0/backend/vbd/{domid}/51712/state", "4",
                    check=False)
    assert proc.returncode == 1 and "Permission denied" in proc.stderr
    assert host.xs("xenstore-exists", "/local/domain/0/backend",
                   check=False).returncode != 0


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="a private network namespace needs root")
def test_exec_runs_inside_the_host_namespace(host):
    links = host.sim("exec", "--", "ip", "-o", "link").stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    env = host.sim("exec", "--", "env").stdout
    assert f"XDEV_SIM_DIR={host.dir}" in env
    assert "LD_PRELOAD=" in env


def test_run_starts_runs_and_stops():
    proc = run([XDEV_SIM, "run", "--", "sh", "-c",
                'xenstore-read /local/domain/0/name && echo "$XDEV_SIM_DIR"'])
    name, hostdir = proc.stdout.split()
    assert name == "Domain-0"
    assert not os.path.exists(hostdir)
    assert run([XDEV_SIM, "run", "--", "sh", "-c", "exit 3"],
               check=False).returncode == 3


def test_stop_twice_reports_no_host(host):
    host.stop()
    proc = host.sim("stop", check=False)
    assert proc.returncode == 1
    assert "no simulated host runs there" in proc.stderr or \
        "No such file" in proc.stderr


def xc_probe(host):
    probe = os.path.join(os.path.dirname(XDEV_SIM), "xc-probe")
    return host.sim("exec", "--", probe).stdout.splitlines()


def test_libxenctrl_users_see_the_simulated_hypervisor(host):
    """The real libxenctrl, with libfakexen.so preloaded by `exec`."""
    a = host.sim("domain-create", "ann").stdout.strip()
    b = host.sim("domain-create", "ben").stdout.strip()
    assert xc_probe(host) == ["0 running", f"{a} running", f"{b} running"]
    host.sim("domain-shutdown", "ann")
    host.sim("domain-destroy", "ben")
    assert xc_probe(host) == ["0 running", f"{a} shutdown"]


def test_trace_file_logs_each_request(tmp_path):
    trace = tmp_path / "trace"
    h = Host("c", extra=["--trace", str(trace)])
    try:
        h.xs("xenstore-write", "/traced", "yes")
    finally:
        h.stop()
    assert any("WRITE" in line and "/traced" in line
               for line in trace.read_text().splitlines())


def test_failed_start_leaves_nothing(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    env = dict(os.environ, XDEV_SIM_TMPDIR=str(hosts))
    proc = run([XDEV_SIM, "start", "--daemon", "o", "--trace",
                str(tmp_path / "t")], env=env, check=False)
    assert proc.returncode == 1
    assert "only available with C xenstored" in proc.stderr
    env["XDEV_SIM_XENSTORED_BIN"] = "/bin/false"
    proc = run([XDEV_SIM, "start"], env=env, check=False)
    assert proc.returncode == 1
    assert "xenstored did not start" in proc.stderr
    assert list(hosts.iterdir()) == []


def write_vbd_nodes(host, domid):
    """A vbd's frontend and backend nodes, written as a toolstack would
    (directories first with their permissions, state and online last)."""
    fe = f"/local/domain/{domid}/device/vbd/51712"
    be = f"/local/domain/0/backend/vbd/{domid}/51712"
    host.xs("xenstore-write", fe, "", be, "")
    host.xs("xenstore-chmod", fe, f"n{domid}", "r0")
    host.xs("xenstore-chmod", be, "n0", f"r{domid}")
    host.xs("xenstore-write", f"{fe}/backend", be, f"{fe}/backend-id", "0",
            f"{fe}/virtual-device", "51712", f"{fe}/state", "1")
    host.xs("xenstore-write", f"{be}/frontend", fe, f"{be}/frontend-id",
            domid, f"{be}/mode", "w", f"{be}/online", "1", f"{be}/state", "1")
    return fe, be


def test_fault_cli_holds_and_releases_the_backend(host):
    domid = host.sim("domain-create", "fay").stdout.strip()
    host.sim("fault", "0", "--device", f"vbd/51712@{domid}",
             "backend-unresponsive")
    fe, be = write_vbd_nodes(host, domid)
    held = host.sim("wait", "--timeout", "0.3", f"{be}/state", "2",
                    check=False)
    assert held.returncode == 1 and "did not become '2'" in held.stderr
    assert host.xs("xenstore-read", f"{be}/state").stdout == "1\n"
    host.sim("fault", "0", "--clear")
    host.sim("wait", f"{be}/state", "2")
    # the frontend answers InitWait as blkfront does
    host.sim("wait", f"{fe}/state", "3")
    assert host.xs("xenstore-read", f"{fe}/ring-ref").returncode == 0


def test_fault_rules_die_with_their_domain(host):
    """A destroyed domain's fault rules do not carry over to a new domain
    that reuses its id."""
    domid = host.sim("domain-create", "gil").stdout.strip()
    host.sim("fault", domid, "frontend-unresponsive")
    host.sim("domain-destroy", "gil")
    again = host.sim("domain-create", "--domid", domid, "gil2")
    assert again.stdout.strip() == domid
    fe, be = write_vbd_nodes(host, domid)
    host.sim("wait", f"{be}/state", "2")
    # the new guest's blkfront answers InitWait: no rule holds it
    host.sim("wait", f"{fe}/state", "3")


@pytest.mark.parametrize("args,code,message", [
    (["fault", "0", "sleepy"], 2, "unknown fault 'sleepy'"),
    (["fault", "0", "slow=-1"], 2, "unknown fault 'slow=-1'"),
    (["fault", "0", "slow=600001"], 2, "unknown fault 'slow=600001'"),
    (["fault", "0", "connect-delay="], 2, "unknown fault 'connect-delay='"),
    (["fault", "0", "connect-delay=60001"], 2,
     "unknown fault 'connect-delay=60001'"),
    (["fault", "0", "connect-delay=5ms"], 2,
     "unknown fault 'connect-delay=5ms'"),
    (["fault", "0", "destroy-at=never"], 2, "unknown fault"),
    (["fault", "0", "--device", "disk/1", "slow=5"], 2,
     "invalid fault scope 'disk/1'"),
    (["fault", "0", "--device", "vbd/../x", "slow=5"], 2,
     "invalid fault scope"),
    (["fault", "nobody", "slow=5"], 1, "no domain 'nobody'"),
    (["kexec", "nobody"], 1, "no domain 'nobody'"),
    (["wait", "--timeout", "soon", "/x"], 2, "not a number of seconds"),
])
def test_fault_cli_refuses_bad_input(host, args, code, message):
    before = store_dump(host)
    proc = host.sim(*args, check=False)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert store_dump(host) == before


def test_kexec_of_a_domain_without_a_kernel_is_refused(host):
    host.sim("domain-create", "--bare", "rock")
    proc = host.sim("kexec", "rock", check=False)
    assert proc.returncode == 1
    assert "kexec" in proc.stderr


def test_stop_ends_every_driver_process(host):
    host.sim("domain-create", "g1")
    host.sim("domain-create", "--driver-domain", "d1")
    sup = host.pid("supervisor.pid")
    children = run(["pgrep", "-P", str(sup)]).stdout.split()
    assert len(children) >= 5  # daemon, dom0 drivers, 2 x (xenbus + drivers)
    host.stop()
    assert not any(pid_alive(int(p)) for p in children)


# ---- inside a domain: exec --domain ----------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="network namespaces need root")


def write_vif_nodes(host, be, fe):
    """A vif from backend domain BE to frontend FE, written as a toolstack
    would (directories first with their permissions, state and online
    last); returns the backend's directory."""
    fp = f"/local/domain/{fe}/device/vif/0"
    bp = f"/local/domain/{be}/backend/vif/{fe}/0"
    host.xs("xenstore-write", fp, "", bp, "")
    host.xs("xenstore-chmod", fp, f"n{fe}", f"r{be}")
    host.xs("xenstore-chmod", bp, f"n{be}", f"r{fe}")
    host.xs("xenstore-write", f"{fp}/backend", bp, f"{fp}/backend-id", be,
            f"{fp}/handle", "0", f"{fp}/state", "1")
    host.xs("xenstore-write", f"{bp}/frontend", fp, f"{bp}/frontend-id", fe,
            f"{bp}/handle", "0", f"{bp}/online", "1", f"{bp}/state", "1")
    return bp


def links(host, *where):
    """{name: flags} of `ip -o link` run by exec (WHERE: --domain D)."""
    out = host.sim("exec", *where, "--", "ip", "-o", "link").stdout
    return {line.split(":")[1].strip(): line.split("<")[1].split(">")[0]
            for line in out.splitlines()}


def kernel_record(host, domid):
    """pid and start time of the domain's driver process."""
    with open(os.path.join(host.dir, "kernels", str(domid))) as f:
        pid, start = f.read().split()[:2]
    return int(pid), int(start)


@needs_root
def test_driver_domain_taps_are_in_its_own_namespace(host):
    d = host.sim("domain-create", "--driver-domain", "netdom").stdout.strip()
    g = host.sim("domain-create", "--bare", "fe").stdout.strip()
    bp = write_vif_nodes(host, d, g)
    host.sim("wait", f"{bp}/state", "2")  # InitWait: netback made the tap
    inside = links(host, "--domain", "netdom")
    assert sorted(inside) == ["lo", f"vif{g}.0"]
    assert "UP" in inside["lo"].split(",")
    assert list(links(host)) == ["lo"]  # not in the host's namespace
    assert list(links(host, "--domain", "0")) == ["lo"]


def test_exec_in_a_driver_domain_uses_its_own_store_connection(host):
    d = host.sim("domain-create", "--driver-domain", "netdom").stdout.strip()
    host.xs("xenstore-write", "/local/domain/0/backend/probe", "1")
    assert host.sim("exec", "--domain", "netdom", "--",
                    "xenstore-read", "domid").stdout == f"{d}\n"
    denied = host.sim("exec", "--domain", d, "--", "xenstore-ls",
                      "/local/domain/0/backend", check=False)
    assert denied.returncode == 1 and "Permission denied" in denied.stderr
    env = host.sim("exec", "--domain", d, "--", "env").stdout.splitlines()
    assert f"XDEV_DOMID={d}" in env
    assert f"XENSTORED_PATH={host.dir}/xenbus/{d}" in env
    assert not any(v.startswith("LD_PRELOAD=") for v in env)
    assert host.sim("exec", "--domain", d, "--", "sh", "-c", "exit 3",
                    check=False).returncode == 3


def test_exec_in_a_domain_becomes_the_command(host):
    """As `ip netns exec`: signals and exit status are the command's."""
    host.sim("domain-create", "--driver-domain", "netdom")
    proc = subprocess.Popen([XDEV_SIM, "exec", "--domain", "netdom", "--",
                             "sh", "-c", "echo $$"], env=host.env,
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=30)
    assert int(out) == proc.pid and proc.returncode == 0


def test_exec_in_domain_0_is_the_host(host):
    env = host.sim("exec", "--domain", "0", "--", "env").stdout.splitlines()
    assert "XDEV_DOMID=0" in env
    assert f"XENSTORED_PATH={host.dir}/socket" in env
    assert any(v.startswith("LD_PRELOAD=") for v in env)


def test_exec_refuses_domains_that_run_nothing(host):
    host.sim("domain-create", "gina")
    host.sim("domain-create", "--bare", "rock")
    host.sim("domain-create", "--driver-domain", "napper")
    host.sim("domain-shutdown", "napper")
    before = store_dump(host)
    for domain, message in [("gina", "is a guest"), ("rock", "is bare"),
                            ("nobody", "no domain 'nobody'"),
                            ("4242", "no domain '4242'"),
                            ("napper", "is not running: shut down")]:
        proc = host.sim("exec", "--domain", domain, "--", "true", check=False)
        assert proc.returncode == 1, (domain, proc.stderr)
        assert message in proc.stderr, (domain, proc.stderr)
        assert proc.stderr.startswith("xdev-sim exec: ")
    assert host.sim("exec", "--domain", "rock", "--no-preload", "--", "true",
                    check=False).returncode == 2
    assert store_dump(host) == before


@needs_root
def test_destroyed_driver_domain_leaves_no_namespace(host):
    d = host.sim("domain-create", "--driver-domain", "netdom").stdout.strip()
    pid, _ = kernel_record(host, d)
    ns = netns_inode(pid)
    assert ns != netns_inode(host.pid("supervisor.pid"))
    # a program living in the domain: cat waits on its stdin
    inside = subprocess.Popen([XDEV_SIM, "exec", "--domain", "netdom", "--",
                               "sh", "-c", "echo in; exec cat"],
                              env=host.env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert inside.stdout.readline() == "in\n"
        host.sim("domain-destroy", "netdom")
        assert inside.wait(timeout=10) == -9  # SIGKILL: the domain died
    finally:
        if inside.poll() is None:
            inside.kill()
            inside.wait()
    assert not pid_alive(pid)
    assert not netns_in_use(ns), "the namespace outlived the domain"
    assert not os.path.exists(os.path.join(host.dir, "kernels", d))
    proc = host.sim("exec", "--domain", d, "--", "true", check=False)
    assert proc.returncode == 1 and f"no domain '{d}'" in proc.stderr


@needs_root
def test_stop_leaves_no_driver_domain_namespace(host):
    d = host.sim("domain-create", "--driver-domain", "netdom").stdout.strip()
    ns = netns_inode(kernel_record(host, d)[0])
    host.stop()
    assert not netns_in_use(ns)


def test_without_a_host_namespace_driver_domains_share_ours():
    h = Host("c", netns=False)
    try:
        d = h.sim("domain-create", "--driver-domain", "netdom").stdout.strip()
        assert netns_inode(kernel_record(h, d)[0]) == netns_inode(os.getpid())
        out = h.sim("exec", "--domain", "netdom", "--", "sh", "-c",
                    "readlink /proc/self/ns/net; xenstore-read domid")
        ns, domid = out.stdout.split()
        assert ns == os.readlink(f"/proc/{os.getpid()}/ns/net")
        assert domid == d
    finally:
        h.stop()


# ---- scale ----------------------------------------------------------------

def a_block_device():
    """physical-device ("major:minor" in hex, as Xen's block script writes
    it) of some block device of this machine, or None."""
    try:
        names = sorted(os.listdir("/sys/dev/block"))
    except OSError:
        return None
    if not names:
        return None
    major, minor = (int(n) for n in names[0].split(":"))
    return f"{major:x}:{minor:x}"


def test_host_runs_250_guests():
    """250 guests, each with its kernel (a xenbus process and a driver
    process): more than fs.inotify.max_user_instances (128 by default),
    which the driver processes once used up, one each.  A vbd connects
    on a few of them, then every guest is destroyed and nothing is left.
    One run, on $XDEV_SIM_XENSTORED (default C xenstored, whose cost per
    request grows with the number of domains): 20 to 35 s on a loaded
    2-core machine (12 s with oxenstored)."""
    n = 250
    h = Host(os.environ.get("XDEV_SIM_XENSTORED", "c"))
    try:
        sup = h.pid("supervisor.pid")
        ids = [h.sim("domain-create", f"g{i}").stdout.strip()
               for i in range(1, n + 1)]
        assert len(set(ids)) == n
        assert len(os.listdir(os.path.join(h.dir, "kernels"))) == n
        # the daemon, dom0's drivers and two processes per guest
        children = run(["pgrep", "-P", str(sup)]).stdout.split()
        assert len(children) == 2 + 2 * n
        dev = a_block_device()
        for domid in (ids[0], ids[n // 2], ids[-1]):
            fe, be = write_vbd_nodes(h, domid)
            h.sim("wait", f"{be}/state", "2")
            if dev:  # what the hotplug script does at InitWait
                h.xs("xenstore-write", f"{be}/physical-device", dev,
                     f"{be}/hotplug-status", "connected")
                h.sim("wait", f"{fe}/state", "4")
                h.sim("wait", f"{be}/state", "4")
            else:
                h.sim("wait", f"{fe}/state", "3")
        assert h.sim("guest", ids[-1], "write", "data/x", "hi").returncode == 0
        for domid in ids:
            h.sim("domain-destroy", domid)
        assert os.listdir(os.path.join(h.dir, "kernels")) == []
        assert h.xs("xenstore-list", "/local/domain").stdout == "0\n"
        left = run(["pgrep", "-P", str(sup)]).stdout.split()
        assert len(left) == 2  # the daemon and dom0's drivers
    finally:
        h.stop()
    assert not os.path.exists(h.dir)
    assert not pid_alive(sup)
    assert not any(pid_alive(int(p)) for p in children)
