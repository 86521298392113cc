"""Summarise a tempest/stestr subunit v2 stream.

usage: summarize.py RESULTS.subunit OUTDIR [--expect FILE]

Writes OUTDIR/summary.txt, failed.txt, skipped.txt, passed.txt and
results.json, and prints the summary.  --expect FILE (one test id per
line, optionally 'name[id-uuid...]') also reports expected tests that did
not run at all.  Exit status: 0 when nothing failed (and nothing expected
is missing), 1 otherwise.
"""

import argparse
import json
import os
import re
import sys

import subunit
import testtools

UUID_RE = re.compile(
    r"id-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
    r"[0-9a-f]{12}"
)


def load(path):
    tests = {}

    def on_test(test):
        tests[test["id"]] = test

    with open(path, "rb") as stream:
        case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            case.run(result)
        finally:
            result.stopTestRun()
    return tests


def detail_text(test, *names):
    for name in names:
        content = test["details"].get(name)
        if content is not None:
            try:
                return content.as_text()
            except Exception:
                return "".join(c.decode("utf-8", "replace") for c in content.iter_bytes())
    return ""


def one_line_reason(test):
    text = detail_text(test, "traceback", "reason")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    # Prefer the exception line (last line) but add the "Details:" line
    # tempest puts in http errors when present.
    last = lines[-1]
    for ln in reversed(lines):
        if ln.startswith("Details:"):
            last = f"{lines[-1]} {ln}" if ln not in lines[-1] else lines[-1]
            break
    return re.sub(r"\s+", " ", last)[:300]


def duration(test):
    ts = test.get("timestamps") or [None, None]
    if ts[0] and ts[1]:
        return (ts[1] - ts[0]).total_seconds()
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("subunit")
    p.add_argument("outdir")
    p.add_argument("--expect")
    p.add_argument("--wall-seconds", type=float)
    args = p.parse_args()

    tests = load(args.subunit)
    buckets = {"passed": [], "failed": [], "skipped": []}
    for tid, t in sorted(tests.items()):
        st = t["status"]
        if st in ("success", "xfail"):
            buckets["passed"].append(tid)
        elif st == "skip":
            buckets["skipped"].append(tid)
        elif st in ("fail", "uxsuccess"):
            buckets["failed"].append(tid)
        # 'exists'/'inprogress' entries are listing noise; ignore.

    missing = []
    if args.expect:
        ran_ids = set(tests)
        ran_uuids = {}
        for tid in tests:
            for u in UUID_RE.findall(tid):
                ran_uuids[u] = tid
        with open(args.expect) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                uuids = UUID_RE.findall(line)
                name = line.split("[", 1)[0]
                if uuids and uuids[0] in ran_uuids:
                    continue
                if any(t.split("[", 1)[0] == name for t in ran_ids):
                    continue
                missing.append(line)

    os.makedirs(args.outdir, exist_ok=True)
    out = []
    n_p, n_f, n_s = (len(buckets[k]) for k in ("passed", "failed", "skipped"))
    out.append(f"Tests run: {n_p + n_f + n_s}")
    out.append(f"  passed : {n_p}")
    out.append(f"  failed : {n_f}")
    out.append(f"  skipped: {n_s}")
    if args.wall_seconds is not None:
        out.append(f"  wall time: {args.wall_seconds:.0f}s")
    if buckets["failed"]:
        out.append("")
        out.append("FAILED:")
        for tid in buckets["failed"]:
            out.append(f"  {tid}")
            out.append(f"      -> {one_line_reason(tests[tid])}")
    if missing:
        out.append("")
        out.append("EXPECTED BUT NOT RUN (test id not found in this tempest):")
        out.extend(f"  {m}" for m in missing)
    out.append("")
    out.append(f"{n_p} passed, {n_f} failed, {n_s} skipped")
    text = "\n".join(out)
    print(text)

    with open(os.path.join(args.outdir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.outdir, "failed.txt"), "w") as f:
        for tid in buckets["failed"]:
            f.write(f"{tid}\t{one_line_reason(tests[tid])}\n")
    with open(os.path.join(args.outdir, "skipped.txt"), "w") as f:
        for tid in buckets["skipped"]:
            f.write(f"{tid}\t{one_line_reason(tests[tid])}\n")
    with open(os.path.join(args.outdir, "passed.txt"), "w") as f:
        for tid in buckets["passed"]:
            f.write(f"{tid}\t{duration(tests[tid]) or 0:.2f}s\n")
    with open(os.path.join(args.outdir, "results.json"), "w") as f:
        json.dump(
            {
                "counts": {"passed": n_p, "failed": n_f, "skipped": n_s},
                "wall_seconds": args.wall_seconds,
                "missing_expected": missing,
                "tests": {
                    tid: {
                        "status": t["status"],
                        "duration": duration(t),
                        "reason": one_line_reason(t)
                        if t["status"] in ("fail", "skip", "uxsuccess")
                        else "",
                    }
                    for tid, t in sorted(tests.items())
                    if t["status"] not in ("exists", "inprogress")
                },
            },
            f,
            indent=1,
        )
    sys.exit(1 if (n_f or missing) else 0)


if __name__ == "__main__":
    main()
