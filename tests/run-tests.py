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
import xml.etree.ElementTree as ET

CK_NS = "{http://check.sourceforge.net/ns}"


def check_counts(xml_path):
    """(passed, failed, failed test names) from a Check XML log."""
    passed, failed, names = 0, 0, []
    for test in ET.parse(xml_path).getroot().iter(CK_NS + "test"):
        if test.get("result") == "success":
            passed += 1
        else:
            failed += 1
            names.append(test.findtext(CK_NS + "id", "?"))
    return passed, failed, names


def junit_counts(xml_path):
    """(passed, failed, skipped, failed names) from a pytest JUnit XML."""
    passed = failed = skipped = 0
    names = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        if "skipped" in kinds:
            skipped += 1
        elif kinds & {"failure", "error"}:
            failed += 1
            names.append(case.get("classname", "") + "::" + case.get("name", ""))
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
        passed, failed, names = check_counts(xml)
    except ET.ParseError as e:
        print(f"{name}: unreadable report ({e}; exit {proc.returncode})")
        return 0, 1, 0, [name + " (report cut short)"]
    if proc.returncode == VALGRIND_EXIT:
        failed, names = failed + 1, names + [name + ": valgrind errors"]
    elif proc.returncode != 0 and failed == 0:
        failed, names = 1, [name + f" (exit {proc.returncode})"]
    return passed, failed, 0, names


def run_pytest(args, results):
    xml = os.path.join(results, "pytest.xml")
    if os.path.exists(xml):
        os.unlink(xml)
    env = dict(os.environ, XDEV_BUILDDIR=args.builddir,
               XDEV_SRCDIR=args.srcdir, PYTHONDONTWRITEBYTECODE="1")
    print("== pytest", flush=True)
    cmd = [args.python, "-m", "pytest", "-p", "no:cacheprovider", "-rs",
           "--junitxml", xml, os.path.join(args.srcdir, "tests", "py")]
    proc = subprocess.run(cmd, env=env, cwd=args.builddir)
    if not os.path.exists(xml):
        return 0, 1, 0, [f"pytest (no report, exit {proc.returncode})"]
    passed, failed, skipped, names = junit_counts(xml)
    if proc.returncode not in (0, 5) and failed == 0:
        failed, names = 1, [f"pytest (exit {proc.returncode})"]
    return passed, failed, skipped, names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--valgrind", default="",
                    help="valgrind binary: also run the Check programs "
                         "under it")
    ap.add_argument("programs", nargs="*")
    args = ap.parse_args()
    results = os.path.join(args.builddir, "tests", "results")
    os.makedirs(results, exist_ok=True)

    total = [0, 0, 0]
    failures = []
    suites = [lambda p=p: run_check(args.builddir, p, results)
              for p in args.programs]
    if args.valgrind:
        vg = [os.path.join(args.builddir, "libtool"), "--mode=execute",
              args.valgrind, "-q", "--leak-check=full",
              "--show-leak-kinds=definite",
              "--errors-for-leak-kinds=definite",
              f"--error-exitcode={VALGRIND_EXIT}"]
        suites += [lambda p=p: run_check(args.builddir, p, results, vg)
                   for p in args.programs]
    else:
        print("note: valgrind not found; the memory-check runs are skipped")
    suites.append(lambda: run_pytest(args, results))
    for suite in suites:
        passed, failed, skipped, names = suite()
        total[0] += passed
        total[1] += failed
        total[2] += skipped
        failures += names
    if failures:
        print("failed: " + ", ".join(failures))
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main())
