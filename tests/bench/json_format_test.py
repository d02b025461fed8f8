#!/usr/bin/env python3
"""json_format_test.py SRC_DIR UPAGER_BENCH - upager-bench's JSON against
docs/bench/json-format.md (format 1).

Runs upager-bench on tiny sizes over every workload and every backend that
can run here (with --breakdown, fault-latency's histograms, an anonymous
store, kernel-mmap-default), collects every key path of the output, and
fails when the output holds a key the page does not name, when a key the
page marks "always" is missing from an output, or when "format" is not 1.
A key marked "kernel", "advice", "upager", "breakdown" or "latency" must
appear in at least one of the outputs (each of those is produced here), so
a documented key the program no longer prints fails too.  Exit 0 pass,
1 fail, 77 when upager-bench cannot run at all (no userfaultfd).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROW = re.compile(r"^\| `([^`]+)` \| ([a-z ]+) \|")


def documented(page):
    keys = {}
    with open(page, encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line)
            if m:
                keys[m.group(1)] = m.group(2).strip()
    return keys


def paths(obj, prefix, out):
    """Every key path: objects by '.', arrays by '[]'; an array or a leaf
    (null included) is a path of its own."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            paths(v, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(obj, list):
        out.add(prefix + "[]")
        for v in obj:
            if isinstance(v, (dict, list)):
                paths(v, prefix + "[]", out)
    else:
        out.add(prefix)


def main():
    src, bench = sys.argv[1], sys.argv[2]
    keys = documented(os.path.join(src, "docs/bench/json-format.md"))
    if len(keys) < 100:
        print(f"json_format: only {len(keys)} keys parsed from the page", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="upager-json-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    tiny = ["--size", "8M", "--budget", "4M", "--runs", "1", "--accesses", "64",
            "--json", "--dir", work]
    runs = [
        ["rand-read", "--backend", "all,kernel-mmap-default,raw-sigbus", "--breakdown"],
        ["fault-latency", "--backend", "upager,kernel-mmap,raw-uffd", "--breakdown"],
        ["seq-read", "--backend", "upager,kernel-mmap"],
        ["rand-write", "--store", "anon", "--backend", "upager,kernel-swap",
         "--upager-cgroup", "off"],
        ["zipf", "--backend", "upager,kernel-mmap"],
        ["seq-write", "--backend", "upager"],
        ["scan-and-update", "--backend", "upager"],
    ]
    seen_all = set()
    failures = []
    try:
        for r in runs:
            cmd = [bench, r[0]] + tiny + r[1:]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
            if p.returncode == 77:
                print(f"json_format: skipped, {' '.join(r)}: {p.stderr.strip()}")
                return 77
            try:
                doc = json.loads(p.stdout)
            except ValueError as e:
                failures.append(f"{' '.join(r)}: not JSON ({e}); exit {p.returncode}; "
                                f"stderr: {p.stderr[-500:]}")
                continue
            if doc.get("format") != 1 or doc.get("tool") != "upager-bench":
                failures.append(f"{' '.join(r)}: format {doc.get('format')!r}, "
                                f"tool {doc.get('tool')!r}")
            got = set()
            paths(doc, "", got)
            seen_all |= got
            for k in sorted(got - keys.keys()):
                failures.append(f"{' '.join(r)}: key `{k}` is not in docs/bench/json-format.md "
                                "(document it, or bump the format)")
            for k, when in keys.items():
                if when == "always" and k not in got:
                    failures.append(f"{' '.join(r)}: key `{k}` (always) is missing")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for k, when in keys.items():
        if when in ("kernel", "advice", "upager", "breakdown", "latency") and k not in seen_all:
            failures.append(f"key `{k}` ({when}) appeared in no output")
    for f in failures:
        print("json_format: " + f, file=sys.stderr)
    if failures:
        return 1
    print(f"json_format: {len(seen_all)} key paths over {len(runs)} invocations, "
          f"all documented; {len(keys)} on the page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
