"""The fake worker programs the simulator starts (run as ``python -m`` under their names).

``router``: writes ``count`` GRAW files (forever when negative) into its working directory,
one every ``interval`` seconds, each written aside and renamed into place so a half-written
file never shows as ``.graw``; logs a line per file to ``--log``.
``ecc``: does nothing until terminated, like an idle ECC server.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path


def _graw_name(index: int) -> str:
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
    return f"CoBo_AsAd0_{stamp}_{index:06d}.graw"


def run_router(count: int, interval: float, size: int, log: Path | None) -> None:
    index = 0
    payload = os.urandom(min(size, 4096))
    while count < 0 or index < count:
        name = _graw_name(index)
        part = Path(f".{name}.part")
        with part.open("wb") as f:
            remaining = size
            while remaining > 0:
                chunk = payload[: min(len(payload), remaining)]
                f.write(chunk)
                remaining -= len(chunk)
        part.rename(name)
        if log is not None:
            with log.open("a") as f:
                f.write(f"{time.time():.3f} wrote {name} ({size} bytes)\n")
        index += 1
        time.sleep(interval)
    while True:
        signal.pause()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["router", "ecc"])
    parser.add_argument("--count", type=int, default=-1)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.role == "router":
        run_router(args.count, args.interval, args.size, args.log)
    else:
        while True:
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
