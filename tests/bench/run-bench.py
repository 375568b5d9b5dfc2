#!/usr/bin/python3
"""Run xdev's benchmarks (tests/bench/xdev-bench) and report.

The same workloads also run through libxl 4.17 (tests/bench/libxl-bench)
on the same simulated host, each right after xdev's, in the same run;
bench-results.json gets a "libxl" section with libxl's raw figures and
"vs_libxl" with the ratios xdev / libxl.

`make bench` runs this; `make bench BENCH_QUICK=1` uses N = 100 and 250
only.  After the scale runs, the open loop (openloop): N = 1000 (250 in
the quick run) vbds arriving at 50% and 80% of libxl's storm
throughput at N = 250, for both.  Each measurement is a separate xdev-bench process with its own
simulated host (the real C xenstored); this script collects their JSON,
prints one table and writes bench-results.json in the build directory.
It reports and never fails on a timing: the exit status is non-zero only
if a measurement could not be made at all.  docs/performance.md explains
every figure.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, exe, srcdir):
        self.exe = exe
        self.srcdir = srcdir

    def run(self, *args):
        cmd = [self.exe, "--srcdir", self.srcdir] + [str(a) for a in args]
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        log("  %s: %.1f s" % (" ".join(str(a) for a in args),
                              time.monotonic() - t0))
        if p.returncode != 0:
            raise RuntimeError("%s failed (status %d)" % (" ".join(cmd),
                                                           p.returncode))
        return json.loads(p.stdout)


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "mem_mb": mem,
            "kernel": platform.release(),
            "date": datetime.date.today().isoformat()}


def growth(scaling, key):
    """t(N)/t(previous N), with N/previous N: xenstored's cost per request
    grows with the number of domains, so nobody scales perfectly."""
    out = {}
    ns = sorted(int(n) for n in scaling if "error" not in scaling[n])
    for a, b in zip(ns, ns[1:]):
        ta, tb = scaling[str(a)][key], scaling[str(b)][key]
        out["%d/%d" % (b, a)] = round(tb / ta, 2) if ta else None
    return out


# What each side waits for, stated next to the figures.
WAITS = {
    "add": "both return after the backend reached InitWait and the hotplug"
           " script exited (xdev's default add; libxl_device_*_add)",
    "remove": "both write Closing, wait for Closed, run the remove script"
              " and delete the nodes (xdev AUTO removal;"
              " libxl_device_*_remove with the record kept from the add)",
    "script": "tests/bench/hotplug/trivial for both",
}


def ratio(x, y):
    return round(x / y, 3) if x is not None and y else None


def libxl_requests(lb, res):
    rq = lb.run("requests")
    out = {k: rq["steady"][k]["median"] for k in
           ("vbd_add", "vbd_remove", "vif_add", "vif_remove")}
    out["alone"] = {k: rq["alone"][k]["median"] for k in
                    ("vbd_add", "vbd_remove", "vif_add", "vif_remove")}
    res["libxl"]["requests"] = out
    for k in ("vbd_add", "vbd_remove", "vif_add", "vif_remove"):
        res["vs_libxl"]["requests." + k] = ratio(res["requests"][k], out[k])


# The latency workload's variants compared with libxl's trivial-script
# figure K ("vbd_add"): native hotplug, no hotplug at all (the library
# alone), and the protocol floor's client with the trivial script and
# with in-process hotplug (vbd only).
LATENCY_VARIANTS = ("native", "none", "floor_trivial", "floor_native")


def variants(k, lat=None):
    kind, op = k.split("_", 1)
    return [n for n in ("%s_%s_%s" % (kind, v, op) for v in LATENCY_VARIANTS)
            if lat is None or n in lat]


def latency_runs(bench, runs):
    """`latency --count 50` for each (name, options before the command,
    its arguments) of RUNS: name_add, name_remove (name_failed if any)."""
    lat = {}
    for name, pre, args in runs:
        r = bench.run(*pre, "latency", "--count", 50, *args)
        lat[name + "_add"] = r["add"]
        lat[name + "_remove"] = r["remove"]
        if r.get("failed"):
            lat[name + "_failed"] = r["failed"]
        if "loops_left" in r:
            lat["block_loops_left"] = r["loops_left"]
    return lat


def libxl_latency(lb, res):
    # alone: the cycled device is its guest's only one; beside: the guest
    # keeps another disk and NIC (--beside), so no removal is its guest's
    # last device (whose removal also deletes the directories it leaves
    # empty, on both sides).  The floor's client never deletes them: its
    # one measurement serves both settings.
    floor = {k: v for k, v in res["latency_ms"].items() if "floor" in k}
    for where, extra in (("latency", ()),
                         ("latency_beside", ("--beside",))):
        lat = latency_runs(lb, (("vbd", (), extra),
                                ("vif", (), ("--type", "vif") + extra)))
        res["libxl"][where + "_ms"] = lat
        mine = dict(floor, **res[where + "_ms"])
        for k, v in lat.items():
            if not isinstance(v, dict):
                continue
            for q in ("p50", "p90"):
                # and native hotplug against libxl with the trivial
                # script: what each waits for is the same (physical-device
                # or the bridge, hotplug-status); no hotplug at all and the
                # floor's client: what is left without a script
                for nk in [k] + variants(k, mine):
                    res["vs_libxl"]["%s.%s_%s" % (where, nk, q)] = ratio(
                        mine[nk][q], v[q])


def libxl_scale(lb, n, traced, res):
    r = lb.run("scale", "--n", n)
    s = {"add_wall_s": r["add"]["wall_s"],
         "remove_wall_s": r["remove"]["wall_s"],
         "latency_p50_s": r["add"]["latency_p50_s"],
         "latency_p99_s": r["add"]["latency_p99_s"],
         "remove_latency_p50_s": r["remove"]["latency_p50_s"],
         "remove_latency_p99_s": r["remove"]["latency_p99_s"],
         "wall_s": r["wall_s"],
         "failed": r["add"]["failed"] + r["remove"]["failed"],
         "errors": "; ".join(e for e in (r["add"]["errors"],
                                         r["remove"]["errors"]) if e),
         "host_cpu_s": round(r["add"]["host_cpu_s"] +
                             r["remove"]["host_cpu_s"], 2),
         "xenstored_cpu_s": round(r["add"]["xenstored_cpu_s"] +
                                  r["remove"]["xenstored_cpu_s"], 3),
         "peak_rss_kb": r["peak_rss_kb"]}
    if traced:
        t = lb.run("scale", "--n", n, "--trace")
        s["watches"] = t["watches"]
    res["libxl"]["scaling"][str(n)] = s
    x = res["scaling"].get(str(n), {})
    for k in ("add_wall_s", "remove_wall_s", "wall_s", "latency_p50_s",
              "latency_p99_s", "watches"):
        if k in s:
            res["vs_libxl"]["scale.%d.%s" % (n, k)] = ratio(x.get(k), s[k])
    # native hotplug's storm (add plus removal) against libxl's with the
    # trivial script: the 0.6 target
    if "native_wall_s" in x:
        res["vs_libxl"]["scale.%d.native_wall_s" % n] = ratio(
            x["native_wall_s"], s["wall_s"])


OPEN_FIGURES = ("add_p50_s", "add_p90_s", "add_p99_s", "add_max_s",
                "remove_p50_s", "remove_p90_s", "remove_p99_s",
                "remove_max_s", "wall_s")


def open_figures(r):
    """openloop's JSON, flattened: latencies from each operation's due
    time (s), the issue rate achieved, failures, wall time."""
    out = {"rate": r["rate"], "n": r["n"], "wall_s": r["wall_s"],
           "failed": r["add"]["failed"] + r["remove"]["failed"]}
    for op in ("add", "remove"):
        for q in ("p50", "p90", "p99", "max"):
            out["%s_%s_s" % (op, q)] = r[op]["latency_%s_s" % q]
        out[op + "_issue_rate"] = r[op]["issue_rate"]
        out[op + "_issue_lag_max_s"] = r[op]["issue_lag_max_s"]
    return out


def openloop(b, lb, n, res):
    """Operations arriving at a steady rate (open loop) at 50% and 80% of
    libxl's storm throughput: N / libxl's add wall time in the scale run
    at the open loop's own N (else 250, else the largest N measured for
    both: the throughput falls with N, so a rate taken from a smaller N
    can be more than libxl keeps up with at this one)."""
    sc, lsc = res.get("scaling", {}), res["libxl"]["scaling"]
    both = [int(k) for k in lsc
            if "error" not in sc.get(k, {"error": 1}) and k in sc]
    if not both:
        log("bench: open loop not measured: no scale run of libxl's")
        res["openloop"] = {"error": "no scale run measured for both"}
        return
    base = n if n in both else 250 if 250 in both else max(both)
    thr = base / lsc[str(base)]["add_wall_s"]
    ol = {"n": n, "base_n": base,
          "libxl_add_wall_s": lsc[str(base)]["add_wall_s"],
          "libxl_throughput_per_s": round(thr, 2)}
    res["openloop"] = ol
    for pc in (50, 80):
        rate = round(thr * pc / 100.0, 3)
        o = ol[str(pc)] = {"rate": rate}
        try:
            o["xdev"] = open_figures(b.run("openloop", "--rate", rate,
                                           "--n", n))
        except (RuntimeError, ValueError, KeyError) as e:
            log("bench: open loop %d%% not measured: %s" % (pc, e))
            o["xdev_error"] = str(e)
        try:
            o["libxl"] = open_figures(lb.run("openloop", "--rate", rate,
                                             "--n", n))
        except (RuntimeError, ValueError, KeyError) as e:
            log("bench: libxl open loop %d%% not measured: %s" % (pc, e))
            o["libxl_error"] = str(e)
            res["libxl"].setdefault("errors", []).append(
                "openloop %d%%: %s" % (pc, e))
        if "xdev" in o and "libxl" in o:
            for k in OPEN_FIGURES:
                res["vs_libxl"]["openloop.%d.%s" % (pc, k)] = ratio(
                    o["xdev"][k], o["libxl"][k])
    # the target: at 80%, xdev's p99 at most 3x its unloaded
    # latency (the sequential p50 of the latency workload)
    x80 = ol.get("80", {}).get("xdev")
    lat = res.get("latency_ms", {})
    if x80 and "vbd_add" in lat:
        ol["xdev_p99_over_unloaded_p50"] = {
            "add": ratio(x80["add_p99_s"] * 1000, lat["vbd_add"]["p50"]),
            "remove": ratio(x80["remove_p99_s"] * 1000,
                            lat["vbd_remove"]["p50"]),
            "target": 3}


def libxl_side(what, fn, *args):
    """Run one libxl measurement; a failure is recorded, not fatal."""
    try:
        fn(*args)
    except (RuntimeError, ValueError, KeyError) as e:
        log("bench: libxl %s not measured: %s" % (what, e))
        args[-1]["libxl"].setdefault("errors", []).append(
            "%s: %s" % (what, e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=".")
    ap.add_argument("--srcdir", default=os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument("--valgrind", default="valgrind")
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK", "") not in
                    ("", "0", "no"))
    ap.add_argument("--trace-max", type=int, default=2000,
                    help="traced scaling runs (watches, retries, requests"
                    " per device) only for N up to this")
    ap.add_argument("--ns", help="comma-separated N for the scaling runs")
    ap.add_argument("--native-max", type=int, default=1000,
                    help="native-hotplug scaling runs only for N up to this")
    ap.add_argument("--out", help="default: BUILDDIR/bench-results.json")
    a = ap.parse_args()
    # libxl runs a script named by a relative path from /etc/xen/scripts
    a.srcdir, a.builddir = os.path.abspath(a.srcdir), os.path.abspath(
        a.builddir)

    exe = os.path.join(a.builddir, "tests", "bench", "xdev-bench")
    if os.geteuid() != 0:
        log("bench: needs root (loop devices, taps); skipped")
        return 77
    b = Bench(exe, a.srcdir)
    lb = Bench(os.path.join(a.builddir, "tests", "bench", "libxl-bench"),
               a.srcdir)
    ns = ([int(n) for n in a.ns.split(",")] if a.ns
          else [100, 250] if a.quick else [100, 250, 500, 1000, 2000, 4000])
    t_start = time.monotonic()
    res = {"machine": machine(), "quick": a.quick,
           "daemon": "C xenstored (Xen 4.17), simulated host",
           "libxl": {"version": "libxl 4.17 (Debian libxenlight)",
                     "waits": WAITS, "scaling": {}},
           "vs_libxl": {}}

    log("bench: requests per operation (xenstored -T trace)")
    rq = b.run("requests")
    res["requests"] = {k: rq["steady"][k]["median"] for k in
                       ("vbd_add", "vbd_remove", "vif_add", "vif_remove",
                        "vbd_connected_add")}
    res["requests"]["alone"] = {k: rq["alone"][k]["median"] for k in
                                ("vbd_add", "vbd_remove", "vif_add",
                                 "vif_remove")}
    res["requests"]["after"] = {k: rq["steady"][k + "_after"]["max"] for k in
                                ("vbd_add", "vbd_remove", "vif_add",
                                 "vif_remove")}
    res["requests"]["by_type"] = {k: rq["steady"][k]["by_type"] for k in
                                  ("vbd_add", "vbd_remove")}
    log("bench: the same through libxl")
    libxl_side("requests", libxl_requests, lb, res)

    log("bench: latency, sequential operations")
    # vbd_watched: each script under a watcher process (xdev-bench
    # --watched), the way the library runs them when the application has
    # a SIGCHLD handler; the others: the library's own child (lib/child.c)
    res["latency_ms"] = latency_runs(b, (
        ("vbd", (), ("--script", "trivial")),
        ("vbd_watched", ("--watched",), ("--script", "trivial")),
        ("vif", (), ("--script", "trivial", "--type", "vif")),
        ("block_vbd", (), ("--script", "block")),
        # native hotplug (no script): a block device, a vif on a bridge,
        # an image file on a loop device
        ("vbd_native", (), ("--script", "native")),
        ("vif_native", (), ("--script", "native", "--type", "vif")),
        ("block_vbd_native", (), ("--script", "native-file")),
        # no hotplug at all (the bench writes what a script would,
        # outside the timing), and the protocol floor's minimal client
        # one vbd at a time, with the trivial script and with in-process
        # hotplug: what any toolstack must wait for
        ("vbd_none", (), ("--script", "none")),
        ("vif_none", (), ("--script", "none", "--type", "vif")),
        ("vbd_floor_trivial", (), ("--script", "floor-trivial")),
        ("vbd_floor_native", (), ("--script", "floor-native"))))
    log("bench: the same beside the guest's other disk and NIC (--beside)")
    res["latency_beside_ms"] = latency_runs(b, (
        (name, (), args + ("--beside",)) for name, args in (
            ("vbd", ("--script", "trivial")),
            ("vif", ("--script", "trivial", "--type", "vif")),
            ("vbd_native", ("--script", "native")),
            ("vif_native", ("--script", "native", "--type", "vif")),
            ("vbd_none", ("--script", "none")),
            ("vif_none", ("--script", "none", "--type", "vif")))))
    log("bench: the same through libxl")
    libxl_side("latency", libxl_latency, lb, res)

    log("bench: scaling, N devices over N/10 guests, all at once")
    sc, fr, fp = {}, {}, {"add": {}, "remove": {}}
    for n in ns:
        try:
            r = b.run("scale", "--n", n)
        except (RuntimeError, ValueError) as e:
            # e.g. the simulated host refusing more guests: reported
            log("bench: N=%d not measured: %s" % (n, e))
            sc[str(n)] = {"error": str(e)}
            fr[str(n)] = fp["add"][str(n)] = fp["remove"][str(n)] = None
            continue
        t = (b.run("scale", "--n", n, "--trace", "--no-floor")
             if n <= a.trace_max else None)
        h = b.run("scale", "--n", n, "--hotplug", "none", "--no-floor")
        # native hotplug (no script named), against libxl's trivial script
        nv = (b.run("scale", "--n", n, "--native", "--no-floor")
              if n <= a.native_max else None)
        sc[str(n)] = {
            "wall_s": r["wall_s"],
            "add_wall_s": r["add"]["wall_s"],
            "remove_wall_s": r["remove"]["wall_s"],
            "latency_first_s": r["add"]["latency_first_s"],
            "latency_p50_s": r["add"]["latency_p50_s"],
            "latency_p99_s": r["add"]["latency_p99_s"],
            "remove_latency_p50_s": r["remove"]["latency_p50_s"],
            "remove_latency_p99_s": r["remove"]["latency_p99_s"],
            "failed": r["add"]["failed"] + r["remove"]["failed"],
            "forced": r["forced"],
            "peak_rss_kb": r["peak_rss_kb"],
            "lib_cpu_s": round(r["add"]["lib_cpu_s"] +
                               r["remove"]["lib_cpu_s"], 3),
            "lib_cpu_ms_per_device": round(
                (r["add"]["lib_cpu_s"] + r["remove"]["lib_cpu_s"]) * 1000 /
                n, 3),
            "xenstored_cpu_s": round(r["add"]["xenstored_cpu_s"] +
                                     r["remove"]["xenstored_cpu_s"], 3),
            "errors": "; ".join(e for e in (r["add"]["errors"],
                                            r["remove"]["errors"]) if e),
            "floor_wall_s": r["floor"]["wall_s"],
            "floor_add_s": r["floor"]["add_s"],
            "floor_remove_s": r["floor"]["remove_s"],
            "floor_add_reaped_s": r["floor"]["add_reaped_s"],
            "floor_add_p50_s": r["floor"]["add_p50_s"],
            "floor_remove_p50_s": r["floor"]["remove_p50_s"],
            "floor_failed": r["floor"]["failed"],
            "floor_retries": r["floor"]["retries"],
            "floor_xenstored_cpu_s": r["floor"]["xenstored_cpu_s"],
            "host_cpu_s": round(r["add"]["host_cpu_s"] +
                                r["remove"]["host_cpu_s"], 2),
            "floor_host_cpu_s": r["floor"]["host_cpu_s"],
            "lib_page_faults_per_device": round(
                (r["add"]["lib_page_faults"] +
                 r["remove"]["lib_page_faults"]) / n, 1),
            "domain_create_s": r["domain_create_s"],
            "no_script_wall_s": h["wall_s"],
            "no_script_latency_p50_s": h["add"]["latency_p50_s"],
        }
        if nv:
            sc[str(n)].update({
                "native_wall_s": nv["wall_s"],
                "native_add_wall_s": nv["add"]["wall_s"],
                "native_remove_wall_s": nv["remove"]["wall_s"],
                "native_latency_p50_s": nv["add"]["latency_p50_s"],
                "native_failed": nv["add"]["failed"] +
                nv["remove"]["failed"],
            })
        if t:
            sc[str(n)].update({
                "watches": t["watches"],
                "watches_all_clients": t["watches_all_clients"],
                "retries": t["eagain"],
                "requests_per_device": round(
                    t["add"]["requests_per_device"] +
                    t["remove"]["requests_per_device"], 1),
                "requests_by_client": {
                    k: round(v + t["remove"]["requests_per_device_by_client"]
                             [k], 1)
                    for k, v in
                    t["add"]["requests_per_device_by_client"].items()},
                "traced_wall_s": t["wall_s"],
                "all_requests_per_device": round(
                    t["add"]["all_requests_per_device"] +
                    t["remove"]["all_requests_per_device"], 1),
                "traced_failed": t["add"]["failed"] + t["remove"]["failed"],
            })
        # xdev's time / the protocol floor's, both measured in this run
        # on this host (xdev-bench scale: the library's storm, then the
        # floor client's, floor-client.c)
        fw = r["floor"]["wall_s"]
        fr[str(n)] = round(r["wall_s"] / fw, 3) if fw else None
        for ph, k in (("add", "add_wall_s"), ("remove", "remove_wall_s")):
            f = r["floor"][ph + "_s"]
            fp[ph][str(n)] = round(sc[str(n)][k] / f, 3) if f else None
        res["scaling"] = sc
        libxl_side("scale %d" % n, libxl_scale, lb, n, n <= a.trace_max,
                   res)
    res["scaling"] = sc
    res["floor_ratio"] = fr
    res["floor_ratio_add"] = fp["add"]
    res["floor_ratio_remove"] = fp["remove"]
    res["growth"] = {"xdev": growth(sc, "wall_s"),
                     "xdev_no_script": growth(sc, "no_script_wall_s"),
                     "floor": growth(sc, "floor_wall_s")}

    n_open = 250 if a.quick else 1000
    log("bench: open loop, N = %d arriving at 50%% and 80%% of libxl's"
        " storm throughput" % n_open)
    openloop(b, lb, n_open, res)

    log("bench: failure paths")
    f = b.run("failure", "--count", 10)
    res["backend_death_to_done_ms"] = f["backend_death_to_done_ms"]["p50"]
    res["failure"] = f

    log("bench: instructions (callgrind)")
    if a.valgrind and os.path.exists(a.valgrind) or a.valgrind == "valgrind":
        try:
            cg = b.run("callgrind", "--valgrind", a.valgrind)
            res["instructions"] = cg
        except (RuntimeError, ValueError) as e:
            log("bench: callgrind: %s" % e)
            res["instructions"] = {"vbd_add": None, "vbd_remove": None}
    else:
        log("bench: valgrind not found: no instruction counts")
        res["instructions"] = {"vbd_add": None, "vbd_remove": None}
    res["total_s"] = round(time.monotonic() - t_start, 1)

    out = a.out or os.path.join(a.builddir, "bench-results.json")
    with open(out, "w") as fo:
        json.dump(res, fo, indent=2, sort_keys=True)
        fo.write("\n")
    table(res)
    log("bench: %s written (%.0f s in all)" % (out, res["total_s"]))
    return 0


def table(r):
    m = r["machine"]
    p = print
    p("\nxdev benchmarks: %s; %d CPUs (%s), %d MiB, Linux %s, %s%s" % (
        r["daemon"], m["cpus"], m["cpu"], m["mem_mb"], m["kernel"],
        m["date"], ", quick" if r["quick"] else ""))
    q = r["requests"]
    p("\n1. xenstore requests per operation, the library's own connection"
      " (xenstored -T trace, between marker reads; library hotplug mode,"
      " trivial script; target <= 32 per add, <= 12 per remove)")
    p("   %-12s %8s %8s %16s" % ("", "steady", "alone", "after the op"))
    for k in ("vbd_add", "vbd_remove", "vif_add", "vif_remove"):
        p("   %-12s %8d %8d %16d" % (k, q[k], q["alone"][k], q["after"][k]))
    p("   steady: the context already watches the backend domain; alone: the"
      " op sets up/takes down that watch; after: reads of a monitored"
      " device until it settles")
    p("   vbd add waiting for Connected: %d" % q["vbd_connected_add"])

    p("\n2. latency per sequential operation, ms (50 runs after a warm-up;"
      " wall = own CPU + waiting for the other ends)")
    p("   %-25s %8s %8s %9s %9s" % ("", "p50", "p95", "cpu p50",
                                    "wait p50"))
    for k, v in r["latency_ms"].items():
        if isinstance(v, dict):
            p("   %-25s %8.1f %8.1f %9.2f %9.1f" % (
                k, v["p50"], v["p95"], v["cpu_p50"], v["wait_p50"]))
    p("   beside the guest's other disk and NIC (--beside):")
    for k, v in r.get("latency_beside_ms", {}).items():
        if isinstance(v, dict):
            p("   %-25s %8.1f %8.1f %9.2f %9.1f" % (
                k, v["p50"], v["p95"], v["cpu_p50"], v["wait_p50"]))

    p("\n3./4. N vbds over N/10 guests, all N adds issued at once from one"
      " context, then all N removes (trivial script, default timeouts)")
    p("   %5s %7s %7s %8s %8s %8s %8s %8s %7s %7s %6s %8s %7s %7s %7s" % (
        "N", "add s", "rm s", "add 1st", "add p50", "add p99", "rm p50",
        "rm p99",
        "RSS MB", "watch", "retry", "xsd CPU", "req/dev", "floor s",
        "ratio"))
    for n, s in sorted(r["scaling"].items(), key=lambda x: int(x[0])):
        if "error" in s:
            p("   %5s not measured: %s" % (n, s["error"]))
            continue
        p("   %5s %7.2f %7.2f %8.2f %8.2f %8.2f %8.2f %8.2f %7.1f %7d %6d "
          "%8.2f %7.1f %7.2f %7.2f" % (
              n, s["add_wall_s"], s["remove_wall_s"],
              s["latency_first_s"], s["latency_p50_s"],
              s["latency_p99_s"], s["remove_latency_p50_s"],
              s["remove_latency_p99_s"], s["peak_rss_kb"] / 1024.0,
              s.get("watches", -1), s.get("retries", -1),
              s["xenstored_cpu_s"], s.get("requests_per_device", -1),
              s["floor_wall_s"],
              r["floor_ratio"][n] or 0))
        if s["floor_failed"]:
            p("   %5s the floor: %d devices failed" % (n, s["floor_failed"]))
    p("   protocol floor, add s / remove s (ratio xdev / floor): %s" %
      ", ".join(
          "N=%s %.2f / %.2f (%.3f / %.3f)" % (
              n, s["floor_add_s"], s["floor_remove_s"],
              r["floor_ratio_add"][n] or 0,
              r["floor_ratio_remove"][n] or 0)
          for n, s in sorted(r["scaling"].items(), key=lambda x: int(x[0]))
          if "error" not in s))
    p("   without scripts (hotplug mode none: an add done at InitWait),"
      " wall s: %s" % ", ".join(
          "N=%s %.2f" % (n, s["no_script_wall_s"])
          for n, s in sorted(r["scaling"].items(), key=lambda x: int(x[0]))
          if "error" not in s))
    p("   CPU s of the whole machine (every process; library / floor) and"
      " the library's own: %s" % ", ".join(
          "N=%s %.1f / %.1f, lib %.2f" % (n, s["host_cpu_s"],
                                          s["floor_host_cpu_s"],
                                          s["lib_cpu_s"])
          for n, s in sorted(r["scaling"].items(), key=lambda x: int(x[0]))
          if "error" not in s))
    p("   library CPU ms per device (flat in N is the target): %s" %
      ", ".join("N=%s %.2f" % (n, s["lib_cpu_ms_per_device"])
                for n, s in sorted(r["scaling"].items(),
                                   key=lambda x: int(x[0]))
                if "error" not in s))
    p("   library page faults per device (copy-on-write after each"
      " script's fork): %s" % ", ".join(
          "N=%s %.1f" % (n, s["lib_page_faults_per_device"])
          for n, s in sorted(r["scaling"].items(), key=lambda x: int(x[0]))
          if "error" not in s))
    p("   failed / AUTO removals forced (default timeouts): %s" % ", ".join(
        "N=%s %d / %d" % (n, s["failed"], s["forced"])
        for n, s in sorted(r["scaling"].items(), key=lambda x: int(x[0]))
        if "error" not in s))
    for n, s in sorted(r["scaling"].items(), key=lambda x: int(x[0])):
        if "requests_by_client" in s:
            p("   requests per device by client (add + remove, traced), "
              "N=%s: %s" % (n, ", ".join(
                  "%s %.1f" % (k.replace("_", " "), v)
                  for k, v in s["requests_by_client"].items())))
    for k in ("xdev", "xdev_no_script", "floor"):
        p("   growth t(N)/t(previous N), %-14s %s" % (
            k + ":", "  ".join("%s: %s" % x for x in r["growth"][k].items())))
    p("   (ratio: xdev's add+remove wall time / the protocol floor's,"
      " measured in the same run on the same host: a minimal client doing"
      " the same storm's protocol and scripts, tests/bench/floor-client.c;"
      " target <= 1.5)")

    f = r["failure"]
    d = f["backend_death_to_done_ms"]
    p("\n5. failure paths")
    p("   backend domain dying -> pending remove done: p50 %.1f ms, max %.1f"
      " ms (from the destroy call: p50 %.1f ms); target < 50 ms" % (
          d["p50"], d["max"], d["from_destroy_call_p50"]))
    for k, v in f["unresponsive_backend"].items():
        p("   unresponsive backend, %-5s: %6.2f s, %s" % (k, v["s"],
                                                         v["result"]))
    i = r["instructions"]
    p("\n6. instructions (callgrind, the calls only, median of 3 after the"
      " first)")
    if i.get("vbd_add"):
        p("   vbd add %d, vbd remove %d, vif add %d, vif remove %d"
          " (first: vbd add %d, remove %d)" % (
              i["vbd_add"], i["vbd_remove"], i["vif_add"], i["vif_remove"],
              i["vbd_add_first"], i["vbd_remove_first"]))
    else:
        p("   not measured (no valgrind)")
    libxl_table(r)
    open_table(r)
    sys.stdout.flush()


def open_table(r):
    p = print
    ol = r.get("openloop", {})
    p("\n8. open loop: N vbd adds over N/10 guests arriving at a steady"
      " rate, then the N removals at the same rate; latency from each"
      " operation's due time, s")
    if "error" in ol:
        p("   not measured: %s" % ol["error"])
        return
    p("   N = %d; rates: 50%% and 80%% of libxl's storm throughput at"
      " N = %d (%d / %.2f s = %.1f per s)" % (
          ol["n"], ol["base_n"], ol["base_n"], ol["libxl_add_wall_s"],
          ol["libxl_throughput_per_s"]))
    p("   %-8s %-6s %7s %7s %7s %7s %7s %7s %7s %7s %7s %6s" % (
        "load", "", "rate/s", "add p50", "add p90", "add p99", "add max",
        "rm p50", "rm p99", "rm max", "wall s", "failed"))
    for pc in ("50", "80"):
        o = ol.get(pc, {})
        for side in ("libxl", "xdev"):
            f = o.get(side)
            if not f:
                p("   %-8s %-6s not measured: %s" % (
                    pc + "%", side, o.get(side + "_error")))
                continue
            p("   %-8s %-6s %7.1f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f "
              "%7.3f %7.2f %6d" % (
                  pc + "%", side, f["add_issue_rate"], f["add_p50_s"],
                  f["add_p90_s"], f["add_p99_s"], f["add_max_s"],
                  f["remove_p50_s"], f["remove_p99_s"], f["remove_max_s"],
                  f["wall_s"], f["failed"]))
        v = r["vs_libxl"]
        if "openloop.%s.add_p99_s" % pc in v:
            p("   %-8s %-6s add p50 %s, p99 %s; remove p50 %s, p99 %s" % (
                pc + "%", "ratio", v["openloop.%s.add_p50_s" % pc],
                v["openloop.%s.add_p99_s" % pc],
                v["openloop.%s.remove_p50_s" % pc],
                v["openloop.%s.remove_p99_s" % pc]))
    t = ol.get("xdev_p99_over_unloaded_p50")
    if t:
        p("   xdev p99 at 80%% / its unloaded p50 (latency workload):"
          " add %s, remove %s (target <= %d)" % (t["add"], t["remove"],
                                                 t["target"]))


def libxl_table(r):
    p = print
    lx, v = r["libxl"], r["vs_libxl"]
    p("\n7. side by side with libxl 4.17, same host, same run"
      " (ratio: xdev / libxl)")
    for k, w in lx["waits"].items():
        p("   %-7s %s" % (k + ":", w))
    p("   %-34s %10s %10s %7s" % ("figure", "libxl", "xdev", "ratio"))
    rows = []
    for k in ("vbd_add", "vbd_remove", "vif_add", "vif_remove"):
        if "requests" in lx:
            rows.append(("requests, " + k, lx["requests"][k],
                         r["requests"][k], v.get("requests." + k)))
    for where, label in (("latency", "latency ms"),
                         ("latency_beside", "beside, ms")):
        mine = r.get(where + "_ms", {})
        for k, s in lx.get(where + "_ms", {}).items():
            if not isinstance(s, dict) or k not in mine:
                continue
            for q in ("p50", "p90"):
                rows.append(("%s, %s %s" % (label, k, q), s[q],
                             mine[k][q], v.get("%s.%s_%s" % (where, k, q))))
            # native hotplug, no hotplug, the floor's client: against
            # libxl's trivial script
            for nk in variants(k, mine):
                for q in ("p50", "p90"):
                    rows.append(("%s, %s %s" % (label, nk, q), s[q],
                                 mine[nk][q],
                                 v.get("%s.%s_%s" % (where, nk, q))))
    for n, s in sorted(lx["scaling"].items(), key=lambda x: int(x[0])):
        x = r["scaling"].get(n, {})
        for k in ("add_wall_s", "remove_wall_s", "wall_s", "latency_p50_s",
                  "latency_p99_s", "watches"):
            if k in s:
                rows.append(("N=%s %s" % (n, k), s[k], x.get(k),
                             v.get("scale.%s.%s" % (n, k))))
        if "native_wall_s" in x:
            rows.append(("N=%s native wall_s" % n, s["wall_s"],
                         x["native_wall_s"],
                         v.get("scale.%s.native_wall_s" % n)))
        if s["failed"]:
            rows.append(("N=%s libxl failed (%s)" % (n, s["errors"]),
                         s["failed"], x.get("failed"), None))
    for name, a, b, q in rows:
        p("   %-34s %10s %10s %7s" % (name, a, "-" if b is None else b,
                                       "-" if q is None else q))
    for e in lx.get("errors", []):
        p("   not measured: %s" % e)
    latency_targets(r)
    storm_targets(r)


def latency_targets(r):
    """The sequential latency targets (p50 / libxl's with the trivial
    script) next to what no client can beat on this host: the protocol
    floor's client, and the library with no hotplug at all; for a guest's
    last device (alone) and beside its other disk and NIC."""
    v = r["vs_libxl"]
    p = print
    for where, what in (("latency", "the guest's only device"),
                        ("latency_beside",
                         "beside the guest's other disk and NIC")):
        if not any(k.startswith(where + ".") for k in v):
            continue
        p("\n   sequential latency p50 / libxl's, %s (targets: scripts"
          " <= 0.7, native <= 0.3)" % what)
        p("   %-11s %8s %8s %8s %13s %12s" % (
            "", "scripts", "native", "no hotpl", "floor+script",
            "floor, none"))
        for k in ("vbd_add", "vbd_remove", "vif_add", "vif_remove"):
            kind, op = k.split("_", 1)
            cells = [v.get("%s.%s_p50" % (where, k))] + [
                v.get("%s.%s_%s_%s_p50" % (where, kind, x, op))
                for x in ("native", "none", "floor_trivial",
                          "floor_native")]
            p("   %-11s %8s %8s %8s %13s %12s" % tuple(
                [k] + ["-" if c is None else c for c in cells]))


def storm_targets(r):
    """The storm's targets: add plus removal / libxl's (scripts <= 0.8,
    native <= 0.6) and / the protocol floor's (<= 1.2), at every N."""
    v, sc = r["vs_libxl"], r.get("scaling", {})
    ns = sorted((n for n in sc if "error" not in sc[n]), key=int)
    if not ns:
        return
    p = print
    p("\n   storms, add plus removal (targets: / libxl scripts <= 0.8,"
      " native <= 0.6; / floor <= 1.2)")
    p("   %6s %15s %15s %10s" % ("N", "scripts/libxl", "native/libxl",
                                 "/ floor"))
    for n in ns:
        cells = [v.get("scale.%s.wall_s" % n),
                 v.get("scale.%s.native_wall_s" % n),
                 r.get("floor_ratio", {}).get(n)]
        p("   %6s %15s %15s %10s" % tuple(
            [n] + ["-" if c is None else c for c in cells]))


if __name__ == "__main__":
    sys.exit(main())
