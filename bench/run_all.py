#!/usr/bin/env python
"""Run every benchmark (bench/bench_*.py) one after the other; `make bench` calls this.

    .venv/bin/python bench/run_all.py [--quick] [--only core,difx] [-- extra args for each]

Each benchmark prints its own table (ours beside OCS's where there is one); they run one at a
time so they do not skew each other's figures. ``--quick`` is passed through to every benchmark.
The exit code is non-zero when a benchmark crashed (a missed target is not a crash).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (passed to each)")
    parser.add_argument("--only", help="comma-separated names, e.g. core,difx (bench_<name>.py)")
    parser.add_argument("extra", nargs="*", help="after --: arguments for every benchmark")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    if not scripts:
        print("run_all: no benchmark matches", file=sys.stderr)
        return 2
    outcomes: list[tuple[str, int, float]] = []
    for script in scripts:
        argv = [sys.executable, str(script), *(["--quick"] if args.quick else []), *args.extra]
        print(f"\n######## {script.name} {'(quick)' if args.quick else ''}", flush=True)
        t0 = time.monotonic()
        try:
            code = subprocess.run(argv, cwd=HERE.parent).returncode
        except KeyboardInterrupt:
            print(f"run_all: interrupted during {script.name}", file=sys.stderr)
            return 130
        outcomes.append((script.name, code, time.monotonic() - t0))
    print("\n######## summary")
    for name, code, elapsed in outcomes:
        print(f"{name:28s} {'ok' if code == 0 else f'exit {code}':>8s}  {elapsed:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
