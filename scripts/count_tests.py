#!/usr/bin/env python3
"""Sums test results from meson's testlog.json files and prints 'N passed, N failed'.

Usage: count_tests.py TESTLOG.json [TESTLOG.json ...]
With several files (scripts/test.sh, then the sanitizer runs of .ci/run) each
file's own counts go first, one line each, and the total is the last line. A
file that cannot be read (the run never happened: its build failed) counts as
one failure.

A Catch2 executable counts as its test cases (from Catch2's summary line), a
script test as the checks it reports ('N checks passed, N failed'); any other
test counts as one. A Catch2 executable that crashed before its summary
counts as one failure. Exit status 1 when anything failed or nothing ran.
"""
import json
import re
import sys

ALL_PASSED = re.compile(r"All tests passed \((\d+) assertions? in (\d+) test cases?\)")
SUMMARY = re.compile(r"test cases:\s+(\d+)\s+\|\s+(\d+) passed\s+\|\s+(\d+) failed")
ONLY_FAILED = re.compile(r"test cases:\s+(\d+)\s+\|\s+(\d+) failed")
SCRIPT = re.compile(r"^(\d+) checks passed, (\d+) failed$", re.M)


def count(entry):
    out = entry.get("stdout") or ""
    ok = entry.get("result") == "OK"
    m = ALL_PASSED.search(out)
    if m:
        n = int(m.group(2))
        return (n, 0) if ok else (n, 1)
    m = SUMMARY.search(out)
    if m:
        return int(m.group(2)), max(int(m.group(3)), 0 if ok else 1)
    m = ONLY_FAILED.search(out)
    if m:
        return 0, int(m.group(2))
    m = SCRIPT.search(out)
    if m:
        return int(m.group(1)), max(int(m.group(2)), 0 if ok else 1)
    if entry.get("result") == "SKIP":
        return 0, 0
    return (1, 0) if ok else (0, 1)


def count_file(path):
    passed = failed = 0
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    p, fl = count(json.loads(line))
                    passed += p
                    failed += fl
    except (OSError, ValueError) as e:
        print(f"cannot read {path}: {e}", file=sys.stderr)
        failed += 1
    return passed, failed


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    passed = failed = 0
    for path in paths:
        p, fl = count_file(path)
        if len(paths) > 1:
            print(f"{path}: {p} passed, {fl} failed")
        passed += p
        failed += fl
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
