"""Progress, the job table, sequence gaps, path confinement, machines files."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like_agents.difx_relay.errors import LocalProtocolError, RemoteProtocolError
from socs_like_agents.difx_relay.jobs import JobTable, SeqTracker, progress_percent
from socs_like_agents.difx_relay.machines import (
    Machines,
    datastream_count,
    parse_machines,
    render_machines,
    render_threads,
)
from socs_like_agents.difx_relay.messages import AlertMessage, Header, StatusMessage
from socs_like_agents.difx_relay.paths import PathPolicy


def _status(state, vis=None, start=None, stop=None, ident="j_1", mpi=0):
    return StatusMessage(
        header=Header(
            from_host="h", message_type="DifxStatusMessage", identifier=ident, mpi_process_id=mpi
        ),
        state=state,
        visibility_mjd=vis,
        job_start_mjd=start,
        job_stop_mjd=stop,
    )


@pytest.mark.parametrize(
    ("msg", "last", "expected"),
    [
        (_status("Running", 57028.3456019, 57028.3333333, 57028.4166667), None, 14.72231),
        (_status("Running", 57030.0, 57028.0, 57029.0), None, 100.0),
        (_status("Running", 57027.0, 57028.0, 57029.0), None, 0.0),
        (_status("Done"), 40.0, 100.0),
        (_status("MpiDone", 0.0), 40.0, 100.0),
        (_status("Ending"), 97.5, 97.5),
        (_status("Ending"), None, 0.0),
        (_status("Starting"), 50.0, 0.0),
        (_status("Running", 57028.5, 57029.0, 57029.0), None, 0.0),
    ],
)
def test_progress(msg, last, expected):
    assert progress_percent(msg, last) == pytest.approx(expected, abs=1e-4)


def test_job_table_keeps_progress_through_ending_and_alerts():
    t = JobTable(max_jobs=2)
    t.apply_status(_status("Running", 57028.5, 57028.0, 57029.0), 1.0)
    row = t.apply_status(_status("Ending", mpi=-1), 2.0)
    assert (row.state, row.progress) == ("Ending", 50.0)
    alert = AlertMessage(
        header=Header(from_host="cn01", message_type="DifxAlertMessage", identifier="j_1"),
        message="slow",
        severity=3,
    )
    assert t.apply_alert(alert, 3.0).last_alert_severity == "WARNING"
    t.apply_status(_status("Spawning", ident="j_2"), 4.0)
    t.apply_status(_status("Spawning", ident="j_3"), 5.0)
    assert list(t.as_dict()) == ["j_2", "j_3"]


def test_seq_tracker_counts_gaps_not_restarts():
    s = SeqTracker()
    assert [s.observe("h", 0, "j", n) for n in (0, 1, 4, 5, 0, 1, None)] == [0, 0, 2, 0, 0, 0, 0]
    assert s.observe("h", 1, "j", 7) == 0
    assert (s.lost, s.restarts) == (2, 1)


POLICY = PathPolicy(["/data/corr", "/scratch/"])


@pytest.mark.parametrize("path", ["/data/corr", "/data/corr/exp/j_1.input", "/scratch/a//b/./c"])
def test_allowed_paths(path):
    assert POLICY.check(path).startswith(("/data/corr", "/scratch"))


@pytest.mark.parametrize(
    ("path", "pattern", "error"),
    [
        ("data/corr/x", False, "must be absolute"),
        ("/data/corr/../../etc/passwd", False, "contains '..'"),
        ("/data/corrupt/x", False, "outside the allowed roots"),
        ("/etc/passwd", False, "outside the allowed roots"),
        ("/data/corr/x; rm -rf /", False, "contains characters"),
        ("/data/corr/$(reboot)", True, "contains characters"),
        ("/data/corr/a b", False, "contains characters"),
        ("/data/corr/*.input", False, "contains characters"),
        ("/data/*/x.input", True, "wildcards only in the last component"),
        ("/data/corr*", True, "outside the allowed roots"),
        ("", False, "non-empty"),
    ],
)
def test_refused_paths(path, pattern, error):
    with pytest.raises(LocalProtocolError, match=error):
        POLICY.check(path, pattern=pattern)


def test_patterns_and_flags():
    assert (
        POLICY.check("/data/corr/exp/*_[12].input", pattern=True) == "/data/corr/exp/*_[12].input"
    )
    assert PathPolicy.check_flags(" -l -t ") == "-l -t"
    with pytest.raises(LocalProtocolError, match="only plain flags"):
        PathPolicy.check_flags("-l; reboot")
    with pytest.raises(LocalProtocolError, match="no --allowed-root"):
        PathPolicy([]).check("/data/x")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_accepted_path_is_inside_a_root(path):
    try:
        normal = POLICY.check(path, pattern=True)
    except LocalProtocolError:
        return
    assert (
        normal == "/data/corr"
        or normal.startswith(("/data/corr/", "/scratch/"))
        or normal == "/scratch"
    )
    assert ".." not in normal.split("/")


def test_machines_round_trip_and_errors():
    m = Machines("head", ("ds1", "ds2"), (("cn01", 7), ("cn02", 5)))
    assert parse_machines(render_machines(m), render_threads(m), 2) == m
    assert datastream_count("JOB ID:   1\nDATASTREAM ENTRIES: 2\n") == 2
    with pytest.raises(RemoteProtocolError, match="NUMBER OF CORES"):
        parse_machines(render_machines(m), "7\n5\n", 2)
    with pytest.raises(RemoteProtocolError, match="declares 2 cores with 1 counts"):
        parse_machines(render_machines(m), "NUMBER OF CORES: 2\n7\n", 2)
