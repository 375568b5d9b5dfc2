#!/usr/bin/env python3
"""Run every xdev test suite and print one summary line for all of them.

Called by `make check`.  Each Check program runs with its XML log
(CK_XML_LOG_FILE_NAME) and pytest with a JUnit XML report; counts come from
those reports, not from parsing human-readable output.  The last line is
"N passed, N failed, N skipped".  Exit status 0 only when nothing failed and
every suite produced its report.
"""
import argparse
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

CK_NS = "{http://check.sourceforge.net/ns}"


def one_line(text, limit=600):
    """TEXT on one line, cut at LIMIT characters: for the failure list."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."


# (seconds, test) of every test run, for the table of the slowest
DURATIONS = []


def check_counts(xml_path, name):
    """(passed, failed, failures) from a Check XML log; a failure reads
    "NAME[case] test (file:line): message", so the end of a CI log says
    why without the rest of it."""
    passed, failed, names = 0, 0, []
    for test in ET.parse(xml_path).getroot().iter(CK_NS + "test"):
        try:
            DURATIONS.append((float(test.findtext(CK_NS + "duration", "0")),
                              "%s[%s] %s#%s" % (
                                  name,
                                  test.findtext(CK_NS + "description", "?"),
                                  test.findtext(CK_NS + "id", "?"),
                                  test.findtext(CK_NS + "iteration", "0"))))
        except ValueError:
            pass
        if test.get("result") == "success":
            passed += 1
        else:
            failed += 1
            names.append("%s[%s] %s (%s): %s" % (
                name, test.findtext(CK_NS + "description", "?"),
                test.findtext(CK_NS + "id", "?"),
                test.findtext(CK_NS + "fn", "?"),
                one_line(test.findtext(CK_NS + "message", ""))))
    return passed, failed, names


def junit_counts(xml_path):
    """(passed, failed, skipped, failed names) from a pytest JUnit XML."""
    passed = failed = skipped = 0
    names = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        try:
            DURATIONS.append((float(case.get("time", "0")),
                              case.get("classname", "") + "::" +
                              case.get("name", "")))
        except ValueError:
            pass
        kinds = {child.tag for child in case}
        xfail = any(c.tag == "skipped" and c.get("type") == "pytest.xfail"
                    for c in case)
        if xfail:
            # it ran, and confirmed a known bug that its test names
            passed += 1
        elif "skipped" in kinds:
            skipped += 1
        elif kinds & {"failure", "error"}:
            failed += 1
            why = next(c for c in case if c.tag in ("failure", "error"))
            names.append(case.get("classname", "") + "::" +
                         case.get("name", "") + ": " +
                         one_line(why.get("message", "")))
        else:
            passed += 1
    return passed, failed, skipped, names


VALGRIND_EXIT = 99
SKIP_EXIT = 77  # a program that cannot run here (automake's convention)


def run_check(builddir, prog, results, valgrind=None):
    """Run one Check program; under VALGRIND (a command prefix), which
    follows Check's forks: a valgrind error makes the test process exit
    with VALGRIND_EXIT, which fails that test."""
    name = os.path.basename(prog) + (" (valgrind)" if valgrind else "")
    xml = os.path.join(results, name.replace(" ", "_") + ".xml")
    if os.path.exists(xml):
        os.unlink(xml)
    env = dict(os.environ, CK_XML_LOG_FILE_NAME=xml)
    cmd = [os.path.join(builddir, prog)]
    if valgrind:
        cmd = valgrind + cmd
        # programs the tests start (xdevd) run under valgrind too
        env["XDEV_TEST_VALGRIND"] = valgrind[2]
    print(f"== {name}", flush=True)
    proc = subprocess.run(cmd, env=env)
    if proc.returncode == SKIP_EXIT and not os.path.exists(xml):
        print(f"{name}: skipped (it says why above)")
        return 0, 0, 1, []
    if not os.path.exists(xml):
        print(f"{name}: no report (exit {proc.returncode})")
        return 0, 1, 0, [name + " (crashed)"]
    try:
        passed, failed, names = check_counts(xml, name)
    except ET.ParseError as e:
        print(f"{name}: unreadable report ({e}; exit {proc.returncode})")
        return 0, 1, 0, [name + " (report cut short)"]
    if proc.returncode == VALGRIND_EXIT:
        failed, names = failed + 1, names + [name + ": valgrind errors"]
    elif proc.returncode != 0 and failed == 0:
        failed, names = 1, [name + f" (exit {proc.returncode})"]
    return passed, failed, 0, names


PYTEST_SHARDS = 4


def run_pytest(args, results):
    """pytest in PYTEST_SHARDS processes at once (conftest.py splits the
    tests); each shard's output is printed when it ends."""
    env = dict(os.environ, XDEV_BUILDDIR=args.builddir,
               XDEV_SRCDIR=args.srcdir, PYTHONDONTWRITEBYTECODE="1",
               XDEV_PYTEST_SELECT="long" if args.long else "quick")
    print("== pytest", flush=True)
    procs = []
    for k in range(PYTEST_SHARDS):
        tag = "long-" if args.long else ""
        xml = os.path.join(results, f"pytest-{tag}{k}.xml")
        out = os.path.join(results, f"pytest-{tag}{k}.log")
        for f in (xml, out):
            if os.path.exists(f):
                os.unlink(f)
        files = [os.path.join(args.srcdir, f) for f in args.pytest_file]
        cmd = [args.python, "-m", "pytest", "-p", "no:cacheprovider", "-rs",
               "--junitxml", xml] + (
                   files or [os.path.join(args.srcdir, "tests", "py")])
        log = open(out, "w")
        procs.append((k, xml, out, log, subprocess.Popen(
            cmd, env=dict(env, XDEV_PYTEST_SHARD=f"{k}/{PYTEST_SHARDS}"),
            cwd=args.builddir, stdout=log, stderr=subprocess.STDOUT)))
    total = [0, 0, 0, []]
    for k, xml, out, log, proc in procs:
        rc = proc.wait()
        log.close()
        with open(out) as f:
            print(f"-- pytest shard {k + 1}/{PYTEST_SHARDS}")
            print(f.read(), end="", flush=True)
        if not os.path.exists(xml):
            total[1] += 1
            total[3].append(f"pytest shard {k} (no report, exit {rc})")
            continue
        passed, failed, skipped, names = junit_counts(xml)
        if rc not in (0, 5) and failed == 0:
            failed, names = 1, [f"pytest shard {k} (exit {rc})"]
        total[0] += passed
        total[1] += failed
        total[2] += skipped
        total[3] += names
    return tuple(total)


SLOWEST = 15


def print_times(times, total):
    """Where the time went: each suite's wall time, and the slowest tests
    (Check's durations exclude a test's fixture; pytest's include it)."""
    print("time per suite:")
    for label, seconds in times:
        print(f"  {seconds:7.1f} s  {label}")
    print(f"  {total:7.1f} s  in all")
    print(f"the {SLOWEST} slowest tests:")
    for seconds, name in sorted(DURATIONS, reverse=True)[:SLOWEST]:
        print(f"  {seconds:7.1f} s  {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--valgrind", default="",
                    help="valgrind binary: also run the Check programs "
                         "under it")
    ap.add_argument("--valgrind-skip", default="",
                    help="programs (space-separated) not run again under "
                         "valgrind")
    ap.add_argument("--long", action="store_true",
                    help="only the long pytest suites (make check-long: "
                         "the lifecycle matrix); without it, all but "
                         "those")
    ap.add_argument("--pytest-file", action="append", default=[],
                    help="run this pytest file (relative to the source "
                         "tree) instead of all of tests/py; repeatable")
    ap.add_argument("programs", nargs="*")
    args = ap.parse_args()
    results = os.path.join(args.builddir, "tests", "results")
    os.makedirs(results, exist_ok=True)

    total = [0, 0, 0]
    failures = []
    suites = [(os.path.basename(p),
               lambda p=p: run_check(args.builddir, p, results))
              for p in args.programs]
    if args.valgrind:
        vg = [os.path.join(args.builddir, "libtool"), "--mode=execute",
              args.valgrind, "-q", "--leak-check=full",
              "--show-leak-kinds=definite",
              "--errors-for-leak-kinds=definite",
              f"--error-exitcode={VALGRIND_EXIT}"]
        skip = set(args.valgrind_skip.split())
        suites += [(os.path.basename(p) + " (valgrind)",
                    lambda p=p: run_check(args.builddir, p, results, vg))
                   for p in args.programs if p not in skip]
    elif args.programs:
        print("note: no valgrind (none found, or a sanitizer build: "
              "make check-sanitizers); the memory-check runs are skipped")
    suites.append((f"pytest ({PYTEST_SHARDS} shards at once)",
                   lambda: run_pytest(args, results)))
    times = []
    start = time.monotonic()
    for label, suite in suites:
        t0 = time.monotonic()
        passed, failed, skipped, names = suite()
        times.append((label, time.monotonic() - t0))
        total[0] += passed
        total[1] += failed
        total[2] += skipped
        failures += names
    print_times(times, time.monotonic() - start)
    if failures:
        print("failed:")
        for failure in failures:
            print("  " + failure)
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main())
