"""Processes found by /proc: a real tree of processes, and ones found only by their mark."""

import os
import subprocess
import sys
import uuid

from socs_like.testing import free_port, wait_until
from socs_like.testing.procs import (
    cmdline,
    comm,
    descendants,
    kill_marked,
    listening,
    marked,
    rss_kib,
)

# a child that starts a grandchild in a session of its own, then waits
TREE = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
time.sleep(60)
"""


def test_a_tree_and_its_mark() -> None:
    mark = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-c", TREE], env=os.environ | {"PROCS_TEST_MARK": mark}
    )
    try:
        below = wait_until(lambda: descendants(proc.pid), message="the grandchild")
        assert len(below) == 1
        assert "time.sleep(60)" in " ".join(cmdline(below[0]))
        assert comm(proc.pid).startswith("python")
        assert (rss_kib(proc.pid) or 0) > 1000
        # the mark finds both, though the grandchild is in a session of its own
        assert sorted(marked("PROCS_TEST_MARK", mark)) == sorted([proc.pid, *below])
        assert sorted(kill_marked("PROCS_TEST_MARK", mark)) == sorted([proc.pid, *below])
        proc.wait(10)
        wait_until(lambda: not marked("PROCS_TEST_MARK", mark), message="all gone")
    finally:
        kill_marked("PROCS_TEST_MARK", mark)
        proc.wait(10)
    assert rss_kib(proc.pid) is None and cmdline(proc.pid) == [] and comm(proc.pid) == ""


def test_the_process_listening_on_a_port() -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import socket, time; s = socket.create_server(('127.0.0.1', {port})); time.sleep(60)",
        ]
    )
    try:
        assert wait_until(lambda: listening(port), message="the listener") == [server.pid]
        assert listening(free_port()) == []
    finally:
        server.kill()
        server.wait()
