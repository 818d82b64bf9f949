"""Line protocol and the HTTP writer against the real InfluxDB server: what is written is
what is read back, odd names and strings included; refused points are isolated and counted;
an unreachable server is an `InfluxUnavailable`."""

from __future__ import annotations

import contextlib
import gc
import socket
import threading

import pytest
import requests

from socs_like.testing import free_port
from socs_like.testing.influxdb import InfluxDatabase
from socs_like_agents.influx_publisher.errors import InfluxNoAnswer, InfluxUnavailable
from socs_like_agents.influx_publisher.lineprotocol import (
    Lines,
    block_lines,
    partial_write_dropped,
    time_of,
)
from socs_like_agents.influx_publisher.writer import InfluxWriter
from socs_like_agents.recording.intake import Block, Value


def blk(data: dict[str, list[Value]], times: list[float], feed: str = "f", address: str = "obs.a"):
    return Block(address, address, feed, "b", times, data, 0.0)


def batch(*blocks: Block) -> list[Lines]:
    """A batch as the publisher sends it: an event's lines, then the next one's."""
    return [Lines.of([b], 0.0) for b in blocks]


def test_lines_follow_the_ocs_layout():
    lines = block_lines(
        blk({"x": [1.5, None], "n": [3, None], "ok": [True, None]}, [1.0000015, 2.0])
    )
    # the second point has no value at all: not written
    assert lines == ["obs.a,feed=f x=1.5,n=3i,ok=true 1000002"]
    assert time_of(1795920755.9377322) == 1795920755937732


def test_partial_write_answers_are_read():
    assert partial_write_dropped("partial write: field type conflict: ... dropped=7") == 7
    assert partial_write_dropped("field type conflict") is None


def test_odd_names_and_strings_come_back_as_written(influxdb: InfluxDatabase):
    writer = InfluxWriter(influxdb.url, influxdb.name)
    odd = 'a "quoted", x="1" back\\slash\\",\nnew line = x\\'
    result = writer.write(
        batch(
            blk(
                {"field with space,comma=eq": [1.25], "text": [odd], "flag": [False]},
                [1.5],
                feed="feed name,x=y",
                address="obs.odd agent,1",
            )
        )
    )
    assert (result.written, result.rejected) == (1, 0)
    [row] = influxdb.rows("obs.odd agent,1")
    assert row == {
        "time": 1_500_000,
        "feed": "feed name,x=y",
        "field with space,comma=eq": 1.25,
        "text": odd.replace("\n", "\\n"),
        "flag": False,
    }


def test_a_batch_with_a_type_conflict_loses_only_the_refused_points(influxdb: InfluxDatabase):
    writer = InfluxWriter(influxdb.url, influxdb.name)
    numbers = blk({"v": [float(i) for i in range(50)]}, [float(i) for i in range(50)])
    text = blk({"v": ["oops"]}, [100.0])
    more = blk({"v": [7.0, 8.0]}, [101.0, 102.0])
    result = writer.write(batch(numbers, text, more))
    # InfluxDB refuses the whole batch for one conflicting point; halving finds it
    assert (result.written, result.rejected) == (52, 1)
    assert "conflict" in (result.last_rejection or "")
    assert len(influxdb.rows("obs.a")) == 52
    # a later batch conflicting with stored points is a partial write: counted as such
    again = writer.write(batch(blk({"v": ["no", "nope"]}, [200.0, 201.0]), more))
    assert (again.written, again.rejected) == (2, 2)


def test_a_missing_database_is_created(influxdb: InfluxDatabase):
    writer = InfluxWriter(influxdb.url, f"{influxdb.name}_new")
    try:
        assert writer.write(batch(blk({"v": [1.0]}, [1.0]))).written == 1
        assert influxdb.server.query('SELECT * FROM "obs.a"', f"{influxdb.name}_new")
    finally:
        influxdb.server.query(f'DROP DATABASE "{influxdb.name}_new"')


def test_no_server_is_unavailable_not_lost():
    writer = InfluxWriter(f"http://127.0.0.1:{free_port()}", "x", timeout=2)
    with pytest.raises(InfluxUnavailable, match="ConnectionError") as raised:
        writer.write(batch(blk({"v": [1.0]}, [1.0])))
    assert not isinstance(raised.value, InfluxNoAnswer)  # refused: it never went out


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
CONFLICT = b'{"error":"field type conflict"}'
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
BAD_REQUEST += b"Content-Length: %d\r\n\r\n%s" % (len(CONFLICT), CONFLICT)
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"


@contextlib.contextmanager
def scripted_server(answers: list[bytes | None], hang: bool = False):
    """An HTTP server on loopback that reads each request and answers it with the next of
    `answers`; at None it closes the connection unanswered (with `hang`, leaves it open
    unanswered), and the next request comes on a new connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    held: list[socket.socket] = []

    def serve() -> None:
        conn = None
        for answer in answers:
            if conn is None:
                conn, _ = listener.accept()
                held.append(conn)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(65536)
            if answer is not None:
                conn.sendall(answer)
                continue
            if not hang:
                conn.close()
            conn = None

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        thread.join(1)
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("hang", [False, True], ids=["closed", "timed-out"])
def test_a_write_that_went_out_and_got_no_answer_may_be_stored(hang: bool):
    with scripted_server([None], hang=hang) as url:
        writer = InfluxWriter(url, "x", timeout=0.5)
        with pytest.raises(InfluxNoAnswer, match="Timeout" if hang else "ConnectionError"):
            writer.write(batch(blk({"v": [1.0]}, [1.0])))


def test_a_split_batch_whose_second_half_fails_may_be_half_stored():
    # refused whole (a type conflict), the first half written, then the server is unavailable
    with scripted_server([BAD_REQUEST, NO_CONTENT, UNAVAILABLE]) as url:
        writer = InfluxWriter(url, "x", timeout=2)
        with pytest.raises(InfluxNoAnswer):
            writer.write(batch(blk({"v": [1.0, 2.0]}, [1.0, 2.0])))


def test_a_failed_write_leaves_its_batch_to_no_one():
    # Through an outage a batch is sent again every few seconds. requests' exceptions hold
    # their request (the batch) in reference cycles through their tracebacks: each failure
    # left a batch for the next full collection, and the publisher's memory grew by tens of
    # MB between them. Only the requests' own garbage counts: the suite's other threads may
    # make some of their own while collection is off.
    writer = InfluxWriter(f"http://127.0.0.1:{free_port()}", "x", timeout=2)
    chunks = batch(blk({"v": [float(i) for i in range(10_000)]}, [float(i) for i in range(10_000)]))
    with contextlib.suppress(InfluxUnavailable):
        writer.write(chunks)  # the first makes the connection pool, which may leave some
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        with contextlib.suppress(InfluxUnavailable):
            writer.write(chunks)
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, (requests.PreparedRequest, Exception))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []
