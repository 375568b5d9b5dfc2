#!/usr/bin/env python3
"""The README's Python demo: xdev from Python on a simulated Xen host.

Adds a disk and a NIC to a guest, lists them, removes the disk, then shows
the backend-gone case: the NIC's backend lives in a driver domain, which is
destroyed; the manager gets DEVICE_GONE, and removing it still succeeds
(XDEV_E_NO_DEVICE once the library has cleaned it up).  Run as root.

usage: tests/demo.py BUILDDIR   (tested by tests/py/test_demo_python.py)
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)


def in_the_host(host, guest, drv, loopdev):
    """Runs inside the host (libfakexen.so preloaded): what a manager does."""
    import xdev

    def show(ev):
        if ev.type != xdev.EventType.DEVICE_STATE:
            print(f"  event: {ev.type.name} {ev.device}"
                  + (f" result {xdev.code_name(ev.result)}"
                     if ev.type == xdev.EventType.OP_DONE else ""))

    with xdev.Context(hotplug_dir=os.path.join(SRCDIR, "tests", "hotplug"),
                      timeout_remove=3, on_event=show) as ctx:
        print("== add a disk (synchronous) and a NIC in the driver domain "
              "(asynchronous)")
        disk = ctx.add(guest, xdev.Vbd(vdev="xvdb", target=loopdev,
                                       script="ok"), wait_connected=True)
        op = ctx.add_async(guest, xdev.Vif(backend=drv, script="ok",
                                           mac="00:16:3e:00:00:01"))
        nic = op.result(timeout=30)
        print(f"added {disk} and {nic}")
        print("== list")
        for info in ctx.list_devices(guest):
            print(f"  {info.id}: frontend {info.frontend_state.name}, "
                  f"backend {info.backend_state.name}, online {info.online}")
        print("== remove the disk (safe)")
        ctx.remove(disk, mode="safe")
        print("== the driver domain dies: its NIC's backend is gone")
        host.domain_destroy(drv)
        for ev in ctx.events(timeout=10):
            if ev.type == xdev.EventType.DEVICE_GONE:
                print(f"DEVICE_GONE for {ev.device}")
                break
        try:
            ctx.remove(nic)
        except xdev.NoDevice as e:
            print(f"removing it now: {e.name} (already cleaned up)")
        print(f"devices left: {len(ctx.list_devices(guest))}")


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    sys.path.insert(0, os.path.join(SRCDIR, "python"))
    os.environ.setdefault("XDEV_LIBRARY",
                          os.path.join(build, "lib", ".libs", "libxdev.so"))
    os.environ.setdefault("XDEV_BUILDDIR", build)
    from xdev.testing import SimHost

    print("== start a simulated host, a guest, and a driver domain with "
          "xdevd")
    host = SimHost("c")
    loopdev = None
    try:
        print(f"host directory: {host.dir}")
        guest = host.domain_create("alice")
        drv = host.domain_create("netdom", "driver")
        host.start_xdevd(drv, os.path.join(SRCDIR, "tests", "hotplug"))
        image = os.path.join(host.dir, "disk.img")
        with open(image, "wb") as f:
            f.truncate(4 << 20)
        loopdev = subprocess.run(["losetup", "--find", "--show", image],
                                 capture_output=True, text=True,
                                 check=True).stdout.strip()
        sys.stdout.flush()
        host.call(in_the_host, host, guest, drv, loopdev)
    finally:
        if loopdev:
            subprocess.run(["losetup", "-d", loopdev], check=False)
        print("== stop the host")
        host.stop()
    print(f"host stopped; {host.dir} is gone")


if __name__ == "__main__":
    main()
