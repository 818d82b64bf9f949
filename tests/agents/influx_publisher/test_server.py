"""An OCS site's block for its InfluxDB publisher starts ours unchanged: OCS's arguments,
its credentials files, gzip writes."""

from __future__ import annotations

import argparse
import gzip
import http.server
import threading

import pytest

from socs_like import settings
from socs_like.site_config import InstanceConfig
from socs_like.testing.influxdb import InfluxDatabase
from socs_like_agents.influx_publisher.agent import InfluxPublisher
from socs_like_agents.influx_publisher.server import ServerOptions, flag, server_from
from socs_like_agents.influx_publisher.writer import InfluxWriter

from .test_writer import batch, blk

# the block OCS's documentation gives for its publisher, as a site config holds it
OCS_BLOCK = {
    "agent-class": "InfluxDBAgent",
    "instance-id": "influxagent",
    "arguments": [
        ["--initial-state", "record"],
        ["--host", "influxdb"],
        ["--port", 8086],
        ["--protocol", "line"],
        ["--gzip", True],
        ["--database", "ocs_feeds"],
    ],
}


def parse(argv: list[str]) -> ServerOptions:
    return settings.parse(InfluxPublisher.Options, argv, env={}).server


def test_an_ocs_publisher_block_parses_as_ocs_meant_it():
    args = parse(InstanceConfig.model_validate(OCS_BLOCK).argv)
    server = server_from(args, environ={})
    assert server.url == "http://influxdb:8086"
    assert (server.database, server.gzip, server.verify, server.auth) == (
        "ocs_feeds",
        True,
        False,
        None,
    )
    tls = server_from(parse(["--ssl", "True", "--verify-ssl", "true"]), environ={})
    assert tls.url == "https://localhost:8086" and tls.verify


def test_false_means_no_and_a_stray_word_is_refused():
    assert server_from(parse(["--ssl", "False"]), environ={}).url.startswith("http://")
    assert flag("yes") and not flag("0")
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false, not 'maybe'"):
        flag("maybe")


def test_credentials_come_from_the_environment_or_the_files_it_names(tmp_path):
    (tmp_path / "user").write_text("writer\n")
    (tmp_path / "password").write_text("s3cret\n")
    files = {
        "INFLUXDB_USERNAME_FILE": str(tmp_path / "user"),
        "INFLUXDB_PASSWORD_FILE": str(tmp_path / "password"),
    }
    assert server_from(parse([]), environ=files).auth == ("writer", "s3cret")
    # the variable itself wins over its file, as OCS reads them
    named = {**files, "INFLUXDB_USERNAME": "admin", "INFLUXDB_PASSWORD": "pw"}
    assert server_from(parse([]), environ=named).auth == ("admin", "pw")


def test_gzip_writes_are_compressed_and_land(influxdb: InfluxDatabase):
    chunks = batch(blk({"v": [1.0, 2.0, 3.0]}, [1.0, 2.0, 3.0], feed="gz"))
    seen: list[tuple[str | None, bytes]] = []

    class Capture(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.headers["Content-Encoding"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http.server.HTTPServer(("127.0.0.1", 0), Capture) as capture:
        thread = threading.Thread(target=capture.handle_request)
        thread.start()
        InfluxWriter(f"http://127.0.0.1:{capture.server_port}", "x", gzip=True).write(chunks)
        thread.join()
    [(encoding, body)] = seen
    assert encoding == "gzip" and gzip.decompress(body) == b"".join(c.body for c in chunks)

    assert InfluxWriter(influxdb.url, influxdb.name, gzip=True).write(chunks).written == 3
    assert [row["v"] for row in influxdb.rows("obs.a")[-3:]] == [1.0, 2.0, 3.0]
