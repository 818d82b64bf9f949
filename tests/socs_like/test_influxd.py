"""`socs-like simulate influxdb`: the demo site's real InfluxDB, in a folder of its own."""

import os
import signal
import subprocess
import sys

import requests

from socs_like.testing import wait_until
from socs_like.testing.util import free_port


def test_it_serves_writes_from_its_folder_and_stops_on_sigterm(tmp_path):
    port = free_port()
    data = tmp_path / "influx"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socs_like",
            "simulate",
            "influxdb",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--rpc-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            try:
                return requests.get(f"{url}/ping", timeout=1).status_code == 204
            except requests.ConnectionError:
                assert server.poll() is None, server.stdout.read()
                return False

        wait_until(answers, timeout=30)
        requests.post(f"{url}/query", params={"q": "CREATE DATABASE demo"}, timeout=10)
        write = requests.post(f"{url}/write", params={"db": "demo"}, data="m v=1.5 1", timeout=10)
        assert write.status_code == 204
        rows = requests.get(
            f"{url}/query", params={"db": "demo", "q": "SELECT v FROM m"}, timeout=10
        ).json()
        assert rows["results"][0]["series"][0]["values"] == [
            ["1970-01-01T00:00:00.000000001Z", 1.5]
        ]
        assert (data / "influxdb.conf").exists() and (data / "meta").is_dir()
        assert (data / "wal" / "demo").is_dir()  # the data lives where it was told
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    assert f"on http://127.0.0.1:{port}, data in {data}" in out.decode()


def test_without_influxd_it_says_so_in_one_line_and_exits_0(tmp_path):
    env = os.environ | {"SOCS_LIKE_INFLUXD": str(tmp_path / "no-influxd")}
    out = subprocess.run(
        [sys.executable, "-m", "socs_like", "simulate", "influxdb", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0
    assert out.stdout.splitlines() == [
        f"influxdb: {tmp_path / 'no-influxd'} not found (Debian's influxdb package), so none "
        "runs; an InfluxPublisher queues, bounded, until a server answers"
    ]
