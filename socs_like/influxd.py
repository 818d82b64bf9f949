"""A local InfluxDB 1.x server (Debian's ``influxd``) kept in one folder, on loopback.

``socs-like simulate influxdb`` is what the demo site runs so that its InfluxPublisher has a
real server to write to: it stands in for the site's own database server, the way the other
simulators stand in for hardware. The config keeps meta, data and WAL under ``--data-dir``,
binds HTTP and the RPC port to loopback, and turns off usage reporting, the ``_internal``
monitor store and request logs. The process then becomes ``influxd`` (exec), so the
supervisor's signals reach the server itself. Without ``influxd`` it says so in one line and
exits 0: the publisher then queues, bounded, and counts what it drops.

The test kit's InfluxDB fixture writes its config with `config_text` too.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

INFLUXD = os.environ.get("SOCS_LIKE_INFLUXD", "/usr/bin/influxd")

_CONFIG = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[continuous_queries]
  enabled = false
"""


def config_text(root: Path, http_port: int, rpc_port: int) -> str:
    """An influxd config keeping everything under `root`, listening on loopback only."""
    return _CONFIG.format(root=root, http_port=http_port, rpc_port=rpc_port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="socs-like simulate influxdb", description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, default=Path("var/influxdb"), help="its folder (var/influxdb)"
    )
    parser.add_argument("--port", type=int, default=8086, help="HTTP port on 127.0.0.1 (8086)")
    parser.add_argument(
        "--rpc-port", type=int, default=8088, help="backup/restore RPC port on 127.0.0.1 (8088)"
    )
    args = parser.parse_args(argv)
    if not Path(INFLUXD).exists():
        print(
            f"influxdb: {INFLUXD} not found (Debian's influxdb package), so none runs; "
            "an InfluxPublisher queues, bounded, until a server answers",
            flush=True,
        )
        return 0
    root = args.data_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "influxdb.conf"
    config.write_text(config_text(root, args.port, args.rpc_port))
    print(f"influxdb: {INFLUXD} on http://127.0.0.1:{args.port}, data in {root}", flush=True)
    os.execv(INFLUXD, [INFLUXD, "run", "-config", str(config)])
