"""The xdev command line as an xl user writes it, and its JSON schema.

xl's letters (tools/xl/xl.c's global -v -N -f -t -T, xl_cmdtable.c's
`block-detach -f`), xl's removal mode per command (xl_block.c: safe
unless -f; xl_nic.c: libxl_device_nic_remove, which forces past its
timeout), and xl's disk and vif keys: each accepted form, and each refused
one with its reason (docs/cli.md).  Then, with -j, every command's success
and failure checked against the one schema of docs/cli.md, and the exit
code of each failure; on the simulated host, through the real store.
"""
import errno
import json
import os
import re
import select
import signal
import subprocess
import time

import pytest

from test_cli import (EXIT_BUSY, EXIT_EXISTS, EXIT_HOTPLUG, EXIT_NOT_FOUND,
                      EXIT_REFUSED, EXIT_TIMEOUT, EXIT_USAGE, Monitor, cli,
                      gated, gone, interrupt_monitor, is_, run, wait_readable,
                      xdev)

assert cli  # the fixture, imported for the tests below
EXIT_OK, EXIT_INTERRUPTED = 0, 130
NO_STORE = dict(os.environ, XENSTORED_PATH="/nonexistent/socket")

# include/xdev.h: XDEV_E_BASE = -4096, then in this order
XDEV_E = ["XDEV_E_BACKEND_GONE", "XDEV_E_FRONTEND_REFUSED",
          "XDEV_E_HOTPLUG_FAILED", "XDEV_E_DOMAIN_NOT_FOUND",
          "XDEV_E_XENSTORE", "XDEV_E_DEVICE_EXISTS", "XDEV_E_NO_DEVICE",
          "XDEV_E_FRONTEND_GONE", "XDEV_E_CLEANUP_FAILED"]
DEVICE_ID = {"domid", "domain", "type", "devid", "backend_domid"}


def code_name(code):
    """The name docs/cli.md gives the code: XDEV_E_* or the errno's."""
    if -4096 <= code < -4096 + len(XDEV_E):
        return XDEV_E[code + 4096]
    return errno.errorcode[-code]


def check_error(proc, exit_code, name, device=None, plain=False):
    """PROC failed with EXIT_CODE and printed docs/cli.md's error object:
    {"ok": false, "error": {"code", "name", "message", "device"}}, its
    message the first line on stderr.  DEVICE: the members the device must
    have (None: the error names no device).  Returns the object."""
    assert proc.returncode == exit_code, (proc.returncode, proc.stderr)
    if plain:
        assert proc.stdout.count("\n") >= 1
        out = json.loads(proc.stdout.splitlines()[-1])
    else:
        out = json.loads(proc.stdout)
    assert isinstance(out, dict) and out["ok"] is False, out
    assert set(out) <= {"ok", "error", "results"}, out
    err = out["error"]
    assert set(err) == {"code", "name", "message", "device"}, err
    assert isinstance(err["code"], int) and err["code"] < 0, err
    assert err["name"] == name == code_name(err["code"]), err
    assert isinstance(err["message"], str) and err["message"], err
    # the first error (not the -v log's "xdev: [info] ..." lines)
    first = [ln for ln in proc.stderr.splitlines()
             if ln.startswith("xdev: ") and not ln.startswith("xdev: [")]
    assert first and first[0] == "xdev: " + err["message"], proc.stderr
    if device is None:
        assert err["device"] is None, err
    else:
        assert set(err["device"]) == DEVICE_ID, err
        assert {k: err["device"][k] for k in device} == device, err
    return out


def check_ok(proc):
    """A success's object: "ok": true with its other members."""
    assert proc.returncode == EXIT_OK, proc.stderr
    out = json.loads(proc.stdout)
    assert out.pop("ok") is True, out
    return out


# ---- xl's letters, no store needed -------------------------------------------

SPEC = "/dev/x,,xvdb"
DRY = {"target": "/dev/x", "vdev": "xvdb", "format": "raw", "access": "w",
       "devtype": "disk"}

# (arguments) that are a dry run of block-attach guest SPEC
DRY_RUNS = [
    ["-N", "block-attach", "guest", SPEC],            # xl's place for -N
    ["block-attach", "-N", "guest", SPEC],
    ["block-attach", "-n", "guest", SPEC],
    ["block-attach", "--dry-run", "guest", SPEC],
    ["-f", "-N", "block-attach", "guest", SPEC],      # xl's global -f: no-op
    ["-t", "-N", "block-attach", "guest", SPEC],      # xl's global -t
    ["-v", "-N", "block-attach", "guest", SPEC],
]


@pytest.mark.parametrize("args", DRY_RUNS, ids=" ".join)
def test_xl_letters_accepted(args):
    proc = xdev("-j", *args, env=NO_STORE)
    assert check_ok(proc) == {"command": "block-attach", "domain": "guest",
                              "type": "vbd", "description": DRY}
    assert proc.stderr == ""


# (arguments, what stderr and the JSON message must say): exit 2
REFUSED_USAGE = [
    (["block-attach", "-f", "g", SPEC], "-f does not apply"),
    (["block-attach", "--force", "-n", "g", SPEC], "--force does not apply"),
    (["block-attach", "--auto", "g", SPEC], "--auto does not apply"),
    (["block-detach", "-N", "g", "xvdb"], "-N (dry run) does not apply"),
    (["network-detach", "--dry-run", "g", "0"], "--dry-run does not apply"),
    (["block-list", "-w", "g"], "--wait-connected does not apply"),
    (["block-detach", "-f", "--safe", "g", "xvdb"], "contradict"),
    (["block-detach", "--safe", "--auto", "g", "xvdb"], "contradict"),
    (["network-detach", "--force", "--auto", "g", "0"], "contradict"),
    (["--timeout", "0", "block-list", "g"],
     "--timeout '0': not a number of seconds above 0 and at most 86400"),
    (["block-detach", "--timeout"], "option --timeout needs a value"),
    (["block-list", "--bogus", "g"], "invalid option '--bogus'"),
    (["-x", "block-list", "g"], "invalid option '-x'"),
    (["recover", "--apply", "-N"], "--apply and --dry-run contradict"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    ([], "no command given"),
    (["block-attach", "g"], "needs a domain and a disk spec"),
]


@pytest.mark.parametrize("args,message", REFUSED_USAGE,
                         ids=[" ".join(a) or "nothing"
                              for a, _ in REFUSED_USAGE])
def test_usage_refused_with_reason(args, message):
    text = xdev(*args, env=NO_STORE)
    assert text.returncode == EXIT_USAGE and text.stdout == ""
    assert message in text.stderr.splitlines()[0], text.stderr
    out = check_error(xdev("-j", *args, env=NO_STORE), EXIT_USAGE, "EINVAL")
    assert message in out["error"]["message"]


def test_t_takes_no_value():
    """xdev's old -t S: the S is now an argument, and the usage error says
    why."""
    proc = xdev("block-detach", "-t", "5", "alice", "xvdb", env=NO_STORE)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.splitlines()[1] == (
        "xdev: warning: -t takes no value: it is xl's -t (the status line "
        "even without a terminal); a timeout is --timeout S")


def test_T_stamps_each_message():
    proc = xdev("-T", "block-attach", "-f", "g", SPEC, env=NO_STORE)
    assert proc.returncode == EXIT_USAGE
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\d+\] xdev: "
                        r"block-attach: -f does not apply .*\n",
                        proc.stderr), proc.stderr


def test_usage_names_the_new_exit_codes():
    out = xdev("--help", env=NO_STORE).stdout
    for words in ("5 device exists", "6 hotplug failed", "7 guest refused",
                  "8 busy", "--auto", "-T"):
        assert words in out


# ---- xl's keys ----------------------------------------------------------------

# (disk spec, the description's extra keys): accepted
DISK_ACCEPTED = [
    ("vdev=xvdb,trusted,target=/dev/x", {}),
    ("vdev=xvdb,no-discard,target=/dev/x", {}),
    ("vdev=xvdb,backendtype=phy,target=/dev/x", {}),
    ("/dev/x,raw,xvdb,w,trusted", {}),
]


@pytest.mark.parametrize("spec,extra", DISK_ACCEPTED,
                         ids=[s for s, _ in DISK_ACCEPTED])
def test_disk_keys_accepted(spec, extra):
    out = check_ok(xdev("-j", "-N", "block-attach", "g", spec, env=NO_STORE))
    assert out["description"] == dict(DRY, **extra)


# (disk spec, the reason the message gives)
DISK_REFUSED = [
    ("vdev=xvdb,discard,target=/dev/x",
     "'discard' is not supported by xdev: libxl writes the backend's "
     "discard-enable=1"),
    ("vdev=xvdb,direct-io-safe,target=/dev/x",
     "libxl writes the backend's direct-io-safe=1, which only QEMU's qdisk "
     "backend reads"),
    ("vdev=xvdb,untrusted,target=/dev/x",
     "libxl writes the frontend's trusted=0"),
    ("vdev=xvdb,backendtype=qdisk,target=/dev/x",
     "backendtype=qdisk is not supported by xdev, which attaches blkback "
     "(phy) disks only: qdisk is QEMU's block backend"),
    ("vdev=xvdb,backendtype=tap,target=/dev/x", "tapdisk (backend/vbd3)"),
    ("vdev=xvdb,backendtype=standalone,target=/dev/x",
     "virtio-disk backend daemon"),
    ("vdev=xvdb,backendtype=nvme,target=/dev/x", "unknown backendtype 'nvme'"),
    ("vdev=xvdb,specification=virtio,target=/dev/x",
     "specification=virtio is not supported"),
]

# (network spec words, the reason)
NIC_REFUSED = [
    (["ip=10.0.0.2"], "libxl writes it to the backend's 'ip' node"),
    (["vifname=web0"], "the backend's 'vifname' node"),
    (["rate=10Mb/s"], "the backend's 'rate' node"),
    (["gatewaydev=eth0"], "the backend's 'gatewaydev' node"),
    (["vlan=10"], "the backend's 'vlan' node"),
    (["netdev=eth0"], "xl itself deprecates it for gatewaydev"),
    (["type=ioemu"], "type=ioemu is not supported by xdev"),
    (["type=tap"], "unknown type 'tap'"),
    (["model=e1000"], "starts no device model"),
    (["accel=x"], "xl itself does not support it"),
    (["colo_compare_out=x"], "a COLO setting"),
    (["bridge=br0,ip=10.0.0.2"], "the backend's 'ip' node"),
]


@pytest.mark.parametrize("spec,reason", DISK_REFUSED,
                         ids=[s for s, _ in DISK_REFUSED])
def test_disk_keys_refused_with_reason(spec, reason):
    proc = xdev("block-attach", "g", spec, env=NO_STORE)
    assert proc.returncode == EXIT_USAGE and reason in proc.stderr
    out = check_error(xdev("-j", "block-attach", "g", spec, env=NO_STORE),
                      EXIT_USAGE, "EINVAL")
    assert reason in out["error"]["message"]


@pytest.mark.parametrize("words,reason", NIC_REFUSED,
                         ids=[" ".join(w) for w, _ in NIC_REFUSED])
def test_vif_keys_refused_with_reason(words, reason):
    proc = xdev("network-attach", "g", *words, env=NO_STORE)
    assert proc.returncode == EXIT_USAGE and reason in proc.stderr
    out = check_error(xdev("-j", "network-attach", "g", *words,
                           env=NO_STORE), EXIT_USAGE, "EINVAL")
    assert reason in out["error"]["message"]


@pytest.mark.parametrize("words", [["type=vif"], ["type="],
                                   ["type=vif,bridge=br1"]], ids=" ".join)
def test_vif_type_vif_accepted(words):
    out = check_ok(xdev("-j", "-N", "network-attach", "g", *words,
                        env=NO_STORE))
    assert out["description"] == ({"bridge": "br1"} if "br1" in words[0]
                                  else {})


def test_refused_keys_leave_the_store_untouched(cli):
    cli.host.sim("domain-create", "rex")
    before = cli.dump()
    for spec, reason in DISK_REFUSED:
        assert reason in cli("block-attach", "rex", spec,
                             code=EXIT_USAGE).stderr
    for words, reason in NIC_REFUSED:
        assert reason in cli("network-attach", "rex", *words,
                             code=EXIT_USAGE).stderr
    assert cli.dump() == before


# ---- xl's removal mode per command --------------------------------------------

def refusing_guest(cli, name):
    """A guest with xvdb whose frontend refuses to close it."""
    g = int(cli.host.sim("domain-create", name).stdout)
    cli("block-attach", "--hotplug", "none", name, SPEC)
    cli.host.sim("wait", f"/local/domain/{g}/device/vbd/51728/state", "3")
    cli.host.sim("fault", name, "frontend-refuse-close")
    return g, f"/local/domain/0/backend/vbd/{g}/51728"


def test_block_detach_is_safe_unless_f(cli):
    g, be = refusing_guest(cli, "sam")
    # xl block-detach: libxl_device_disk_safe_remove; a global -f (before
    # the command) is xl's "force execution", not a forced removal
    for args in (["block-detach"], ["-f", "block-detach"]):
        proc = cli("-j", *args, "--remove-timeout", "5", "sam", "xvdb",
                   code=EXIT_REFUSED)
        check_error(proc, EXIT_REFUSED, "XDEV_E_FRONTEND_REFUSED",
                    {"domid": g, "domain": "sam", "type": "vbd",
                     "devid": 51728, "backend_domid": 0})
        # put back (the frontend, the guest's, stays as it chose)
        assert cli.read(f"{be}/online") == "1"
        assert cli.exists(f"/xdev/{g}/vbd/51728")
    # xl block-detach -f: libxl_device_disk_destroy
    out = check_ok(cli("-j", "block-detach", "-f", "sam", "xvdb"))
    assert out["detached"] is True and gone(cli, g, "vbd", 51728)


def test_network_detach_forces_past_the_timeout(cli):
    g = int(cli.host.sim("domain-create", "tia").stdout)
    cli("network-attach", "tia", "script=ok", "-w")
    cli("network-attach", "tia", "script=ok", "-w")
    cli.host.sim("fault", "tia", "frontend-unresponsive")
    # --safe: fails at the timeout, the vif put back
    proc = cli("-j", "network-detach", "--safe", "--timeout", "0.5", "tia",
               "0", code=EXIT_TIMEOUT)
    check_error(proc, EXIT_TIMEOUT, "ETIMEDOUT",
                {"domid": g, "type": "vif", "devid": 0})
    assert cli.read(f"/local/domain/0/backend/vif/{g}/0/online") == "1"
    # xl network-detach: libxl_device_nic_remove, forced past the timeout;
    # --auto says so for either command
    for args in (["0"], ["--auto", "1"]):
        out = check_ok(cli("-j", "network-detach", "--timeout", "0.5",
                           "tia", *args))
        assert out == {"domid": g, "domain": "tia", "type": "vif",
                       "devid": int(args[-1]), "backend_domid": 0,
                       "detached": True}
    assert gone(cli, g, "vif", 0) and gone(cli, g, "vif", 1)


def test_t_draws_the_status_line_without_a_terminal(cli):
    g, be = refusing_guest(cli, "uma")
    cli.host.sim("fault", "uma", "frontend-unresponsive")
    # the wait lasts 0.5 s: the line is redrawn every 0.1 s
    proc = cli("-t", "block-detach", "--timeout", "0.5", "uma", "xvdb",
               code=EXIT_TIMEOUT)
    # (text mode reads its \r as a newline)
    assert "\x1b[K[ 0.1 s/0.5 s] block-detach vbd 51728 from uma" \
        in proc.stderr, proc.stderr
    assert "waiting for the backend to" in proc.stderr  # cut at 79
    # without -t, and with -t -q, none
    for args in ([], ["-q"]):
        proc = cli(*args, "block-detach", "--timeout", "0.5", "uma", "xvdb",
                   code=EXIT_TIMEOUT)
        assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    cli("block-detach", "--force", "uma", "xvdb")
    assert gone(cli, g, "vbd", 51728)


# ---- the JSON of every command: success and failure ---------------------------

def test_attach_json_success_and_failures(cli, tmp_path):
    g = int(cli.host.sim("domain-create", "val").stdout)
    vbd = {"domid": g, "domain": "val", "type": "vbd", "devid": 51728,
           "backend_domid": 0}
    out = check_ok(cli("-j", "block-attach", "--hotplug", "none", "val",
                       SPEC))
    assert {k: out[k] for k in vbd} == vbd
    assert out["backend"] == f"/local/domain/0/backend/vbd/{g}/51728"
    before = cli.dump()
    # the vdev is taken: exit 5, the device named
    check_error(cli("-j", "block-attach", "--hotplug", "none", "val",
                    "/dev/y,,xvdb", code=EXIT_EXISTS),
                EXIT_EXISTS, "XDEV_E_DEVICE_EXISTS", vbd)
    # no such domain, no such backend domain: exit 3, no device
    check_error(cli("-j", "block-attach", "nobody", SPEC,
                    code=EXIT_NOT_FOUND),
                EXIT_NOT_FOUND, "XDEV_E_DOMAIN_NOT_FOUND")
    check_error(cli("-j", "network-attach", "val", "backend=nobody",
                    "--hotplug", "none", code=EXIT_NOT_FOUND),
                EXIT_NOT_FOUND, "XDEV_E_DOMAIN_NOT_FOUND")
    # a bad spec: exit 2
    check_error(cli("-j", "block-attach", "val", "vdev=xvdc",
                    code=EXIT_USAGE), EXIT_USAGE, "EINVAL")
    assert cli.dump() == before
    # the hotplug script fails: exit 6, undone
    check_error(cli("-j", "block-attach", "val",
                    "vdev=xvdc,script=fail,target=/dev/x",
                    code=EXIT_HOTPLUG),
                EXIT_HOTPLUG, "XDEV_E_HOTPLUG_FAILED",
                dict(vbd, devid=51744))
    assert gone(cli, g, "vbd", 51744)
    # a vif: success, and a MAC taken
    out = check_ok(cli("-j", "network-attach", "--hotplug", "none", "val",
                       "mac=00:16:3e:00:00:61"))
    assert out["type"] == "vif" and out["mac"] == "00:16:3e:00:00:61"
    check_error(cli("-j", "network-attach", "--hotplug", "none", "val",
                    "devid=0", code=EXIT_EXISTS),
                EXIT_EXISTS, "XDEV_E_DEVICE_EXISTS",
                {"domid": g, "type": "vif", "devid": 0})


def test_attach_timeout_json(cli):
    g = int(cli.host.sim("domain-create", "wes").stdout)
    cli.host.sim("fault", "0", "backend-unresponsive")
    check_error(cli("-j", "block-attach", "--timeout", "0.5", "--hotplug",
                    "none", "wes", SPEC, code=EXIT_TIMEOUT),
                EXIT_TIMEOUT, "ETIMEDOUT",
                {"domid": g, "domain": "wes", "type": "vbd", "devid": 51728})
    assert gone(cli, g, "vbd", 51728)


def test_detach_json_success_and_failures(cli):
    g = int(cli.host.sim("domain-create", "xia").stdout)
    cli("block-attach", "--hotplug", "none", "xia", SPEC)
    check_error(cli("-j", "block-detach", "xia", "xvdz",
                    code=EXIT_NOT_FOUND),
                EXIT_NOT_FOUND, "XDEV_E_NO_DEVICE")
    check_error(cli("-j", "network-detach", "xia", "7",
                    code=EXIT_NOT_FOUND),
                EXIT_NOT_FOUND, "XDEV_E_NO_DEVICE")
    check_error(cli("-j", "block-detach", "nobody", "xvdb",
                    code=EXIT_NOT_FOUND),
                EXIT_NOT_FOUND, "XDEV_E_DOMAIN_NOT_FOUND")
    out = check_ok(cli("-j", "block-detach", "xia", "xvdb"))
    assert out == {"domid": g, "domain": "xia", "type": "vbd",
                   "devid": 51728, "backend_domid": 0, "detached": True}


def test_list_json_success_and_failure(cli):
    g = int(cli.host.sim("domain-create", "yan").stdout)
    cli("block-attach", "--hotplug", "none", "yan", SPEC)
    cli("network-attach", "--hotplug", "none", "yan")
    for cmd, kind, devid in (("block-list", "vbd", 51728),
                             ("network-list", "vif", 0)):
        proc = cli("-j", cmd, "yan")
        [dev] = json.loads(proc.stdout)     # a listing: the array itself
        assert (dev["domid"], dev["type"], dev["devid"]) == (g, kind, devid)
        # an unknown domain: exit 3, the others' devices as "results"
        proc = cli("-j", cmd, "nobody", "yan", code=EXIT_NOT_FOUND)
        out = check_error(proc, EXIT_NOT_FOUND, "XDEV_E_DOMAIN_NOT_FOUND")
        assert out["results"] == [dev]
        assert "'nobody'" in out["error"]["message"]


def test_recover_json_success_and_failure(cli):
    cli.host.sim("domain-create", "zoe")
    assert json.loads(cli("-j", "recover").stdout) == []
    assert json.loads(cli("-j", "recover", "--apply", "zoe").stdout) == []
    out = check_error(cli("-j", "recover", "nobody", code=EXIT_NOT_FOUND),
                      EXIT_NOT_FOUND, "XDEV_E_DOMAIN_NOT_FOUND")
    assert out["results"] == []


def test_monitor_json_success_and_failure(cli):
    g = int(cli.host.sim("domain-create", "abe").stdout)
    mon = Monitor(cli, "abe")
    try:
        [ev] = mon.until(is_("monitoring"))
        assert ev["ok"] is True and ev["domids"] == [g]
        cli("block-attach", "--hotplug", "none", "abe", SPEC)
        added = mon.until(is_("added"))[-1]
        assert added["ok"] is True and added["devid"] == 51728
        assert interrupt_monitor(mon) == 0
    finally:
        mon.kill()
    # a failure: one line, after the events printed (abe's disk present)
    proc = cli("-j", "monitor", "abe", "nobody", code=EXIT_NOT_FOUND)
    check_error(proc, EXIT_NOT_FOUND, "XDEV_E_DOMAIN_NOT_FOUND", plain=True)
    present = [json.loads(ln) for ln in proc.stdout.splitlines()[:-1]]
    assert [(ev["ok"], ev["event"], ev["devid"]) for ev in present] == \
        [(True, "present", 51728)]
    proc = cli("-j", "monitor", "nobody", code=EXIT_NOT_FOUND)
    assert proc.stdout.count("\n") == 1


def test_busy_json(cli, tmp_path):
    """Exit 8: another xdev process is detaching the device (its remove
    script waits on the gate); the second detach changes nothing."""
    g = int(cli.host.sim("domain-create", "bo").stdout)
    loop = cli.loop()
    gate, _, env = gated(cli, tmp_path)
    cli("block-attach", "bo", f"phy:{loop},xvdb,w", "script=gate", env=env)
    first = subprocess.Popen(
        cli.cmd("block-detach", "bo", "xvdb"),
        env=dict(env, XDEV_TEST_GATE=str(gate), XDEV_TEST_GATE_ON="remove"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_readable(gate / "started") == "remove\n"
        check_error(cli("-j", "block-detach", "bo", "xvdb", code=EXIT_BUSY,
                        env=env),
                    EXIT_BUSY, "EBUSY",
                    {"domid": g, "domain": "bo", "devid": 51728})
        with open(gate / "open", "w") as f:
            f.write("go\n")
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert gone(cli, g, "vbd", 51728)


def read_until(stream, text, timeout=20):
    """What STREAM gives up to the first line containing TEXT."""
    got, deadline = "", time.monotonic() + timeout
    while text not in got:
        left = deadline - time.monotonic()
        assert left > 0 and select.select([stream], [], [], left)[0], \
            f"no {text!r} within {timeout} s: {got!r}"
        chunk = os.read(stream.fileno(), 65536).decode()
        assert chunk, f"ended without {text!r}: {got!r}"
        got += chunk
    return got


def test_interrupted_json(cli, tmp_path):
    """SIGINT while the add script runs: exit 130, ECANCELED, the device
    named, and what the attach wrote undone."""
    g = int(cli.host.sim("domain-create", "cy").stdout)
    loop = cli.loop()
    gate, _, env = gated(cli, tmp_path)
    before = cli.dump()
    proc = subprocess.Popen(
        cli.cmd("-j", "-vv", "block-attach", "cy", f"phy:{loop},xvdb,w",
                "script=gate"),
        env=dict(env, XDEV_TEST_GATE=str(gate), XDEV_TEST_GATE_ON="add"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_readable(gate / "started") == "add\n"
        os.kill(int(run(["pgrep", "-P", str(proc.pid)]).stdout.split()[0]),
                signal.SIGINT)
        # the cancel is taken (the log says so) before the script goes on
        err = read_until(proc.stderr, "add cancelled")
        with open(gate / "open", "w") as f:
            f.write("go\n")
        out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = subprocess.CompletedProcess(proc.args, proc.returncode,
                                       out.decode(), err + rest.decode())
    check_error(done, EXIT_INTERRUPTED, "ECANCELED",
                {"domid": g, "domain": "cy", "type": "vbd", "devid": 51728})
    assert gone(cli, g, "vbd", 51728) and cli.dump() == before
