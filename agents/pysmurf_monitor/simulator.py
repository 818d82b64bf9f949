"""``socs-like simulate pysmurf``: realistic pysmurf publisher traffic, with real files.

Two modes:

- **live** (default): several streamer streams each close a g3 file every ``--g3-interval``
  seconds; every ``--burst-interval`` seconds a pysmurf "action" (``uxm_relock``,
  ``take_noise``, ``tune``, ...) writes a burst of output and plot files; ``session_data`` and
  ``session_log`` every ``--session-interval`` seconds; ``metadata`` register values at
  ``--metadata-rate`` per second; and now and then an ignored ``log`` message. Files are
  written under ``--data-dir`` the way the real servers lay them out::

      <data-dir>/smurf_data/<YYYYMMDD>/<publisher id>/<action_ts>/<outputs|plots>/<ts>_<name>
      <data-dir>/timestreams/<5 digits>/<stream id>/<session id>_<seq:03>.g3

- **flood** (``--announce N``): write N small g3 files, then announce them at ``--rate`` per
  second (0: as fast as possible) and exit; for tests and benchmarks.

Datagrams are built with the same encoder the monitor's parser is tested against, each
publisher numbering its messages with ``seq_no``.

``--manifest FILE`` appends one JSON line per file announced, right after its datagram went
out: ``path`` (the file as written, ``.npy`` included), ``archive``, ``md5``, ``size`` and
``sent`` (UNIX s). It is the simulator's own record of what it handed over, which a soak's
ledger holds against the file database and the archives.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import time
from pathlib import Path
from typing import IO

from socs_like_agents.pysmurf_monitor.datagrams import encode

ACTIONS = {
    "uxm_relock": [
        ("tune", "npy", False),
        ("channel_assignment_b{b}", "txt", False),
        ("asd_summary", "png", True),
        ("noise", "npy", False),
    ],
    "take_noise": [("noise_timestream", "npy", False), ("asd", "png", True)],
    "take_iv": [("iv_info", "npy", False), ("iv_curves", "png", True)],
    "take_bias_steps": [("bias_step_analysis", "npy", False), ("bias_steps", "png", True)],
}
REGISTERS = [
    "AMCc.FpgaTopLevel.AppTop.AppCore.SysgenCryo.Base[{b}].band",
    "AMCc.FpgaTopLevel.AppTop.AppCore.RtmCryoDet.RtmSpiMax.TesBiasDacDataRegCh[{b}]",
    "AMCc.SmurfProcessor.FileWriter.DataDropCnt",
    "AMCc.FpgaTopLevel.AppTop.AppCore.SysgenCryo.Base[{b}].CryoChannels.amplitudeScaleArray",
]


class Manifest:
    """The files announced, one JSON line each (``--manifest``); a no-op without a file."""

    def __init__(self, out: IO[str] | None) -> None:
        self.out = out

    def add(self, path: Path, archive: str, data: bytes) -> None:
        if self.out is None:
            return
        entry = {
            "path": str(path),
            "archive": archive,
            "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "size": len(data),
            "sent": time.time(),
        }
        self.out.write(json.dumps(entry) + "\n")
        self.out.flush()


class Publisher:
    """One pysmurf publisher id: its own seq_no counter, one UDP socket."""

    def __init__(
        self,
        pub_id: str,
        sock: socket.socket,
        target: tuple[str, int],
        manifest: Manifest | None = None,
    ) -> None:
        self.id = pub_id
        self.seq_no = 0
        self.sock = sock
        self.target = target
        self.manifest = manifest or Manifest(None)

    def send(self, type_: str, payload: object, when: float | None = None) -> None:
        data = encode(
            id=self.id,
            type=type_,
            payload=payload,
            seq_no=self.seq_no,
            time=time.time() if when is None else when,
        )
        self.seq_no += 1
        self.sock.sendto(data, self.target)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="socs-like simulate pysmurf", description=__doc__.split("\n")[0]
    )
    p.add_argument("--host", default="127.0.0.1", help="where the monitor listens")
    p.add_argument("--port", type=int, default=8200, help="the monitor's UDP port (default 8200)")
    p.add_argument(
        "--data-dir",
        default="var/pysmurf/readout",
        help="folder the simulated servers write into (default var/pysmurf/readout)",
    )
    p.add_argument("--streams", type=int, default=3, help="streamer streams (default 3)")
    p.add_argument(
        "--g3-interval",
        type=float,
        default=10.0,
        help="seconds between g3 files of one stream (default 10; real: 600)",
    )
    p.add_argument("--g3-size", type=int, default=256 * 1024, help="bytes per g3 file")
    p.add_argument(
        "--burst-interval",
        type=float,
        default=20.0,
        help="seconds between pysmurf actions (default 20)",
    )
    p.add_argument(
        "--session-interval",
        type=float,
        default=5.0,
        help="seconds between session_data/session_log messages (default 5)",
    )
    p.add_argument(
        "--metadata-rate",
        type=float,
        default=150.0,
        help="metadata messages per second over all streams (default 150)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (default 0: run until interrupted)",
    )
    p.add_argument(
        "--announce",
        type=int,
        default=0,
        metavar="N",
        help="flood mode: write N g3 files, announce them, exit",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="flood mode: announcements per second (default 0: as fast as possible)",
    )
    p.add_argument("--file-size", type=int, default=1024, help="flood mode: bytes per file")
    p.add_argument("--seed", type=int, default=None, help="random seed, for repeatable runs")
    p.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="append a JSON line (path, archive, md5, size, sent) per file announced",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rng = random.Random(args.seed)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    target = (args.host, args.port)
    root = Path(args.data_dir).absolute()
    out = None if args.manifest is None else open(args.manifest, "a")  # noqa: SIM115
    manifest = Manifest(out)
    try:
        if args.announce:
            flood(
                root,
                Publisher("STREAMER:flood", sock, target, manifest),
                args.announce,
                args.rate,
                args.file_size,
                rng,
            )
        else:
            live(root, sock, target, args, rng, manifest)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if out is not None:
            out.close()
    return 0


def write_file(path: Path, size: int, rng: random.Random) -> bytes:
    """Write `size` random bytes to `path`; the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = rng.randbytes(size)
    path.write_bytes(data)
    return data


def flood(
    root: Path, pub: Publisher, count: int, rate: float, size: int, rng: random.Random
) -> list[Path]:
    """Write ``count`` g3 files, then announce each at ``rate`` per second."""
    session_id = int(time.time())
    written = []
    for i in range(count):
        path = root / "timestreams" / str(session_id)[:5] / "flood" / f"{session_id}_{i:06d}.g3"
        written.append((path, write_file(path, size, rng)))
    start = time.perf_counter()
    for i, (path, data) in enumerate(written):
        if rate > 0:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        pub.send("g3_file", {"path": str(path), "archive_name": "timestreams"})
        pub.manifest.add(path, "timestreams", data)
    return [path for path, _ in written]


def live(
    root: Path,
    sock: socket.socket,
    target: tuple[str, int],
    args: argparse.Namespace,
    rng: random.Random,
    manifest: Manifest,
) -> None:
    start = time.time()
    streams = [f"ufm_mv{n}" for n in rng.sample(range(1, 40), args.streams)]
    streamers = {s: Publisher(f"STREAMER:{s}", sock, target, manifest) for s in streams}
    controllers = {s: Publisher(s, sock, target, manifest) for s in streams}
    g3_seq = dict.fromkeys(streams, 0)
    session_ids = {s: int(start) for s in streams}
    next_g3 = {s: start + args.g3_interval * (i + 1) / len(streams) for i, s in enumerate(streams)}
    next_burst = start + 2.0
    next_session = start
    meta_period = 1.0 / args.metadata_rate if args.metadata_rate > 0 else None
    next_meta = start
    while args.duration <= 0 or time.time() - start < args.duration:
        now = time.time()
        for s in streams:
            if now >= next_g3[s]:
                sid = session_ids[s]
                path = root / "timestreams" / str(sid)[:5] / s / f"{sid}_{g3_seq[s]:03d}.g3"
                data = write_file(path, args.g3_size, rng)
                streamers[s].send("g3_file", {"path": str(path), "archive_name": "timestreams"})
                streamers[s].manifest.add(path, "timestreams", data)
                g3_seq[s] += 1
                next_g3[s] = now + args.g3_interval
        if now >= next_burst:
            burst(root, controllers[rng.choice(streams)], rng, now)
            next_burst = now + args.burst_interval
        if now >= next_session:
            for s, pub in controllers.items():
                pub.send(
                    "session_data",
                    {
                        "tunefile": f"/data/smurf_data/tune/{int(now)}_tune.npy",
                        "bias_volts": [rng.uniform(0, 10) for _ in range(4)],
                    },
                )
                pub.send("session_log", f"{time.strftime('%H:%M:%S')} {s}: all good\n")
                pub.send("log", "ignored by the monitor")
            next_session = now + args.session_interval
        if meta_period is not None:
            while next_meta <= now:
                s = rng.choice(streams)
                register = rng.choice(REGISTERS).format(b=rng.randrange(8))
                streamers[s].send(
                    "metadata", {"path": register, "value": rng.randrange(1 << 16), "type": "int"}
                )
                next_meta += meta_period
        wake = min(
            [*next_g3.values(), next_burst, next_session]
            + ([next_meta] if meta_period is not None else [])
        )
        time.sleep(max(0.0, min(wake - time.time(), 0.5)))


def burst(root: Path, pub: Publisher, rng: random.Random, now: float) -> None:
    """One pysmurf action: its files written, then announced."""
    action = rng.choice(sorted(ACTIONS))
    action_ts = str(int(now))
    day = time.strftime("%Y%m%d", time.gmtime(now))
    for name, fmt, plot in ACTIONS[action]:
        ts = int(now) + rng.randrange(5)
        basename = f"{ts}_{name.format(b=rng.randrange(8))}.{fmt}"
        folder = root / "smurf_data" / day / pub.id / action_ts / ("plots" if plot else "outputs")
        data = write_file(folder / basename, rng.randrange(1024, 64 * 1024), rng)
        path = str(folder / basename)
        if fmt == "npy":
            path = path[: -len(".npy")]  # pysmurf announces npy files without the extension
        pub.send(
            "data_file",
            {
                "path": path,
                "type": "plot" if plot else "output",
                "format": fmt,
                "timestamp": float(ts),
                "action": action,
                "action_ts": action_ts,
                "plot": plot,
                "pysmurf_version": "8.0.0-sim",
            },
        )
        pub.manifest.add(folder / basename, "smurf", data)


if __name__ == "__main__":
    raise SystemExit(main())
