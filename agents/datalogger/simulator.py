"""A data logger over real HTTP: ``socs-like simulate datalogger``.

It serves the protocol of :mod:`.protocol` for any device name: every device has its own
level, drift, daily swing, quantized noise and gaps (short drop-outs and, for some devices,
hour-long outages), all a pure function of the device name and the sample time, so two
requests for the same window get the same samples. Timing events repeat at fixed periods
within a 60 s super-cycle. Devices named by ``--error-device`` answer 503, ``--slow-device``
answer after ``--slow-seconds``, ``--trickle-device`` send their answer in small pieces spread
over ``--trickle-seconds``, ``--flaky-device`` fail their first ``--flaky-failures`` requests,
``--empty-device`` have no samples.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import signal
import sys
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from .errors import RequestError
from .protocol import MAX_EVENT, Floats, encode_columns, parse_target

SUPERCYCLE = 60.0
# event code -> period in seconds (the codes that have data; the others never occur)
EVENT_PERIODS = {0x00: 60.0, 0x02: 5.0, 0x07: 1.0, 0x0F: 15.0, 0x21: 2.5, 0x8F: 30.0}
MAX_SAMPLES = 20_000_000
DRIFT_CYCLE = 30 * 86400.0
TRICKLE_PIECES = 100


def _unit_hash(index: Floats, seed: int) -> Floats:
    """A repeatable pseudo-random number in [0, 1) per sample index."""
    x: Floats = np.sin(index * 12.9898 + seed * 78.233) * 43758.5453
    fraction: Floats = x - np.floor(x)
    return fraction


@dataclass(frozen=True)
class DeviceModel:
    name: str
    rate: float

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode()) % 10_000

    def samples(self, start: float, stop: float) -> tuple[Floats, Floats]:
        first = math.ceil(start * self.rate)
        last = math.ceil(stop * self.rate)
        if last - first > MAX_SAMPLES:
            raise RequestError(f"window holds {last - first} samples; at most {MAX_SAMPLES}")
        index = np.arange(first, last, dtype=np.float64)
        times = index / self.rate
        seed = self.seed
        keep = _unit_hash(index, seed + 1) >= 0.005  # 0.5 % short drop-outs
        if seed % 4 == 0:  # some devices also lose whole hours
            keep &= _unit_hash(np.floor(times / 3600.0), seed + 2) >= 0.1
        times = times[keep]
        level = 10.0 + seed % 97
        # a slow drift that repeats every 30 days, up to a third of the level
        drift = (seed % 13 - 6) * 2e-8 * level  # per second
        swing = 0.02 * level * np.sin(2 * np.pi * times / 86400.0 + seed)
        # readings come quantized from the ADC, so the mode is a meaningful statistic
        resolution = 0.01 * (1 + seed % 5)
        noise = np.round((_unit_hash(index[keep], seed) - 0.5) * 20) * resolution
        values = level + drift * (times % DRIFT_CYCLE) + swing + noise
        return times, np.round(values / resolution) * resolution


def event_times(code: int, start: float, stop: float) -> tuple[Floats, Floats]:
    """Occurrences of ``code`` in ``[start, stop)`` and their offsets in microseconds."""
    period = EVENT_PERIODS.get(code)
    if period is None:
        empty = np.empty(0)
        return empty, empty
    phase = (code * 0.173) % period
    first = math.ceil((start - phase) / period)
    last = math.ceil((stop - phase) / period)
    times = np.arange(first, last, dtype=np.float64) * period + phase
    return times, np.round((times % SUPERCYCLE) * 1e6)


@dataclass
class Behaviour:
    """How particular devices misbehave, and what was asked (for the test that reads it)."""

    errors: set[str] = field(default_factory=set)
    slow: set[str] = field(default_factory=set)
    slow_seconds: float = 30.0
    trickle: set[str] = field(default_factory=set)
    trickle_seconds: float = 30.0
    flaky: set[str] = field(default_factory=set)
    flaky_failures: int = 1
    empty: set[str] = field(default_factory=set)
    rate: float = 1.0
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def answer(behaviour: Behaviour, target: str) -> tuple[int, bytes, float]:
    """``(status, body, seconds)`` for one request target: the body is to be sent spread over
    ``seconds`` (0: at once)."""
    try:
        path, query = parse_target(target)
        start, stop = _seconds(query, "start"), _seconds(query, "stop")
        if not stop > start:
            raise RequestError("stop must be after start")
        if path == "/v1/param":
            return _param(behaviour, query.get("device", ""), start, stop)
        if path == "/v1/event":
            code = int(query.get("code", "-1"))
            if not 0 <= code <= MAX_EVENT:
                raise RequestError(f"event code must be 0..{MAX_EVENT}")
            times, offsets = event_times(code, start, stop)
            return 200, encode_columns(times, offsets, formats=("%.6f", "%.0f")), 0.0
        if path == "/v1/timeline":
            return 200, _timeline(start, stop), 0.0
        return 404, f"no such resource {path}\n".encode(), 0.0
    except (RequestError, ValueError) as exc:
        return 400, f"bad request: {exc}\n".encode(), 0.0


def _seconds(query: dict[str, str], key: str) -> int:
    """A time of the request: whole UTC epoch seconds, as the logger takes them."""
    text = query.get(key, "")
    if not (text.isascii() and text.isdigit()):
        raise RequestError(f"{key} must be whole UTC epoch seconds, not {text!r}")
    return int(text)


def _param(
    behaviour: Behaviour, device: str, start: float, stop: float
) -> tuple[int, bytes, float]:
    if not device:
        raise RequestError("device is required")
    with behaviour.lock:
        behaviour.requests[device] += 1
        asked = behaviour.requests[device]
    if device in behaviour.errors:
        return 503, f"{device}: device in error (no readings from its front end)\n".encode(), 0.0
    if device in behaviour.flaky and asked <= behaviour.flaky_failures:
        return 503, f"{device}: front end busy, try again\n".encode(), 0.0
    if device in behaviour.slow:
        time.sleep(behaviour.slow_seconds)
    if device in behaviour.empty:
        return 200, b"", 0.0
    times, values = DeviceModel(device, behaviour.rate).samples(start, stop)
    spread = behaviour.trickle_seconds if device in behaviour.trickle else 0.0
    return 200, encode_columns(times, values, formats=("%.3f", "%.6g")), spread


def _send(out: io.BufferedIOBase, body: bytes, spread: float) -> None:
    """Write ``body``, in ``TRICKLE_PIECES`` pieces evenly over ``spread`` seconds if > 0."""
    if spread <= 0:
        out.write(body)
        return
    size = max(1, math.ceil(len(body) / TRICKLE_PIECES))
    # a client that gave up (its timeout) closes the connection: nothing left to tell it
    with contextlib.suppress(ConnectionError):
        for i in range(0, len(body), size):
            out.write(body[i : i + size])
            time.sleep(spread / TRICKLE_PIECES)


def _timeline(start: float, stop: float) -> bytes:
    parts = [event_times(code, start, stop) for code in sorted(EVENT_PERIODS)]
    times = np.concatenate([t for t, _ in parts])
    codes = np.concatenate(
        [
            np.full(len(t), c, dtype=np.float64)
            for (t, _), c in zip(parts, sorted(EVENT_PERIODS), strict=True)
        ]
    )
    offsets = np.concatenate([o for _, o in parts])
    order = np.argsort(times, kind="stable")
    return encode_columns(
        times[order], codes[order], offsets[order], formats=("%.6f", "%.0f", "%.0f")
    )


def make_server(host: str, port: int, behaviour: Behaviour) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, body, spread = answer(behaviour, self.path)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            _send(self.wfile, body, spread)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would drown the site's log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="socs-like simulate datalogger", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8310)
    parser.add_argument("--rate", type=float, default=1.0, help="samples per second (default 1)")
    parser.add_argument("--error-device", action="append", default=[], metavar="DEVICE")
    parser.add_argument("--slow-device", action="append", default=[], metavar="DEVICE")
    parser.add_argument("--slow-seconds", type=float, default=30.0)
    parser.add_argument("--trickle-device", action="append", default=[], metavar="DEVICE")
    parser.add_argument("--trickle-seconds", type=float, default=30.0)
    parser.add_argument("--flaky-device", action="append", default=[], metavar="DEVICE")
    parser.add_argument("--flaky-failures", type=int, default=1)
    parser.add_argument("--empty-device", action="append", default=[], metavar="DEVICE")
    args = parser.parse_args(argv)
    if not args.rate > 0:
        parser.error("--rate must be > 0")
    behaviour = Behaviour(
        errors=set(args.error_device),
        slow=set(args.slow_device),
        slow_seconds=args.slow_seconds,
        trickle=set(args.trickle_device),
        trickle_seconds=args.trickle_seconds,
        flaky=set(args.flaky_device),
        flaky_failures=args.flaky_failures,
        empty=set(args.empty_device),
        rate=args.rate,
    )
    server = make_server(args.host, args.port, behaviour)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"data logger simulator listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
