"""Progress, the job table, sequence gaps per sending process, remote path rules, machines
files, the DifxStart / job status / stop trackers."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like.paths import PathRefused
from socs_like_agents.difx_relay.errors import LocalProtocolError, RemoteProtocolError
from socs_like_agents.difx_relay.feeds import DOCUMENT_FEEDS
from socs_like_agents.difx_relay.jobcontrol import (
    JobStatusCollector,
    Outcome,
    StartTracker,
    StopWatch,
)
from socs_like_agents.difx_relay.jobs import JobTable, progress_percent
from socs_like_agents.difx_relay.machines import (
    Machines,
    datastream_count,
    machines_from,
    parse_machines,
)
from socs_like_agents.difx_relay.messages import AlertMessage, Header, StatusMessage
from socs_like_agents.difx_relay.operations import RemotePaths
from socs_like_agents.difx_relay.options import Options
from socs_like_agents.difx_relay.relay import Relay


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


class _Feed:
    def __init__(self):
        self.events = []

    def publish(self, payload):
        self.events.append(payload)


def _relay():
    args = Options(host="h", port=1)
    feeds = {name: _Feed() for name in DOCUMENT_FEEDS}
    return Relay(args, feeds, _Feed()), feeds


def _doc(
    mtype, ident, seq, mpi=0, host="difxhead", body="<difxInfo><message>m</message></difxInfo>"
):
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<difxMessage><header><from>{host}</from>'
        f"<mpiProcessId>{mpi}</mpiProcessId><identifier>{ident}</identifier>"
        f"<type>{mtype}</type></header><body><seqNumber>{seq}</seqNumber>{body}</body>"
        "</difxMessage>"
    ).encode()


def test_one_counter_per_sending_process_across_types_and_identifiers():
    # DiFX numbers every message of a process with one counter: a status of job A, an alert
    # of job B and an info of the daemon, interleaved, are no loss at all.
    relay, feeds = _relay()
    for seq, (mtype, ident) in enumerate(
        [("DifxInfoMessage", "j_a"), ("DifxInfoMessage", "j_b"), ("DifxInfoMessage", "mk5daemon")]
        * 5
    ):
        relay.on_document(_doc(mtype, ident, seq))
    s = relay.summary()
    assert (s["seq_lost"], s["sender_restarts"], s["bad_documents"]) == (0, 0, 0)
    assert s["identifiers"] == {"j_a": 5, "j_b": 5, "mk5daemon": 5}
    assert s["senders"]["difxhead/0"]["received"] == 15
    # a real gap of 3 in that one counter, seen on the event that follows it; a late one
    # brings the loss down; another process has its own counter
    relay.on_document(_doc("DifxInfoMessage", "j_a", 18))
    assert feeds["difx_info"].events[-1]["seq_gap"] == 3
    relay.on_document(_doc("DifxInfoMessage", "j_b", 16))
    relay.on_document(_doc("DifxInfoMessage", "j_a", 0, mpi=1))
    s = relay.summary()
    assert (s["seq_lost"], s["seq_late"]) == (2, 1)
    assert s["senders"]["difxhead/1"]["received"] == 1


def test_last_error_is_none_only_while_connected():
    relay, _ = _relay()
    assert relay.summary()["last_error"] == "never connected"


ROOTS = ["/data/corr", "/scratch"]
PATHS = RemotePaths(ROOTS)


@pytest.mark.parametrize("path", ["/data/corr", "/data/corr/exp/j_1.input", "/scratch/a//b/./c"])
def test_allowed_paths(path):
    assert PATHS.check(path).startswith(("/data/corr", "/scratch"))


@pytest.mark.parametrize(
    ("path", "pattern", "error"),
    [
        ("data/corr/x", False, "refused (relative)"),
        ("/data/corr/../../etc/passwd", False, "refused (dotdot)"),
        ("/data/corrupt/x", False, "refused (outside_roots)"),
        ("/etc/passwd", False, "refused (outside_roots)"),
        ("/data/corr/x; rm -rf /", False, "contains characters"),
        ("/data/corr/$(reboot)", True, "contains characters"),
        ("/data/corr/a b", False, "contains characters"),
        ("/data/corr/*.input", False, "contains characters"),
        ("/data/*/x.input", True, "refused (outside_roots)"),
        ("/data/corr/*/x.input", True, "wildcards only in the last component"),
        ("/data/corr*", True, "refused (outside_roots)"),
        ("", False, "refused (empty)"),
        ("/data/corr/a\x00b", False, "refused (nul)"),
    ],
)
def test_refused_paths(path, pattern, error):
    with pytest.raises(
        (LocalProtocolError, PathRefused), match=error.replace("(", r"\(").replace(")", r"\)")
    ):
        PATHS.check(path, pattern=pattern)


def test_patterns_and_flags():
    assert PATHS.check("/data/corr/exp/*_[12].input", pattern=True) == "/data/corr/exp/*_[12].input"
    assert RemotePaths.check_flags(" -l -t ") == "-l -t"
    with pytest.raises(LocalProtocolError, match="only plain flags"):
        RemotePaths.check_flags("-l; reboot")
    with pytest.raises(PathRefused, match="no_roots"):
        RemotePaths([]).check("/data/x")


_SEGMENT = st.sampled_from(
    ["exp", "j_1.input", "..", ".", "", "*.im", "a b", "x;y", "corr", "$(r)"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["/data/corr", "/data", "/scratch", "/etc", "", "data/corr"]),
    st.lists(_SEGMENT, max_size=4),
)
def test_accepted_exactly_when_inside_a_root_and_shell_safe(root, segments):
    path = "/".join([root, *segments])
    parts = [p for p in path.split("/") if p not in ("", ".")]
    normal = "/" + "/".join(parts)
    inside = (
        path.startswith("/")
        and ".." not in path.split("/")
        and any(normal == r or normal.startswith(r + "/") for r in ROOTS)
    )
    safe = not any(c in path for c in " ;$()") and "*" not in "/".join(parts[:-1])
    try:
        got = PATHS.check(path, pattern=True)
    except (LocalProtocolError, PathRefused):
        assert not (inside and safe), path
        return
    assert inside and safe, path
    assert got == normal


def test_machines_from_parameters():
    m = machines_from("head", ["ds1"], ["cn01:7", {"node": "cn02", "threads": 5}, "cn03"])
    assert m.processors == (("cn01", 7), ("cn02", 5), ("cn03", 1))
    for bad, why in [
        (["cn01:x"], "threads must be an integer"),
        ([3], "give 'node:threads'"),
        (["cn01:0"], "threads >= 1"),
    ]:
        with pytest.raises(LocalProtocolError, match=why):
            machines_from("head", [], bad)


def _run(tracker, codes):
    for code, text in codes:
        tracker.apply(code, text.encode())
    return tracker


def test_start_config_command_not_found_is_a_warning_and_the_job_runs():
    t = _run(
        StartTracker("/d/j.input"),
        [
            (102, ""),
            (103, ""),
            (127, ""),
            (115, "mpirun: command not found"),
            (126, ""),
            (125, ""),
            (104, ""),
            (112, ""),
            (113, ""),
            (114, "PROGRESS 50%"),
            (117, ""),
        ],
    )
    assert t.outcome is None and t.running and t.config_ok is True
    assert t.warnings == ["difx warning: mpirun: command not found", "config command not found"]
    _run(t, [(101, "")])
    assert t.outcome.ok and t.phase == "done"


@pytest.mark.parametrize(
    ("codes", "ok", "message"),
    [
        (
            [(102, ""), (113, ""), (116, "PROG FAILED"), (119, "")],
            False,
            "job failed; last error: PROG FAILED",
        ),
        (
            [(102, ""), (113, ""), (116, "oops"), (114, "more"), (117, ""), (120, "")],
            True,
            "1 error lines; last: oops",
        ),
        ([(102, ""), (113, ""), (100, "")], False, "terminated after starting difx (stopped)"),
        (
            [(102, ""), (103, ""), (109, ""), (100, "")],
            False,
            "terminated after failure inputfile not found",
        ),
        ([(127, ""), (125, ""), (128, "")], True, "config check passed"),
        (
            [(127, ""), (124, ""), (116, "Execution stopped."), (128, "")],
            False,
            "execution stopped",
        ),
    ],
)
def test_start_endings(codes, ok, message):
    t = _run(StartTracker("/d/j.input"), codes)
    assert t.outcome is not None and t.outcome.ok is ok
    assert message in t.outcome.message


def test_a_missing_job_folder_ends_the_start_from_the_main_connection():
    t = _run(StartTracker("/d/exp/j.input"), [(102, ""), (103, ""), (104, "")])
    t.diagnostic(
        "error", "statvfs failed when accessing directory /d/other : it seems not to exist!"
    )
    t.diagnostic(
        "warning", "statvfs failed when accessing directory /d/exp : it seems not to exist!"
    )
    assert t.outcome is None
    t.diagnostic("error", "statvfs failed when accessing directory /d/exp : it seems not to exist!")
    assert t.outcome == Outcome(
        False,
        "/d/exp/j.input: guiServer: statvfs failed when accessing directory /d/exp : it seems "
        "not to exist! (no end code follows)",
    )


def test_a_bad_config_alone_does_not_end_the_start():
    t = _run(
        StartTracker("/d/j.input"), [(127, ""), (115, "bad line"), (124, ""), (104, ""), (113, "")]
    )
    assert t.outcome is None and t.running and t.config_ok is False


def test_job_status_collector_reads_the_ctime_stamp_and_state():
    c = JobStatusCollector()
    for code, text in [
        (102, ""),
        (110, "Sun Nov 29 01:00:00 2026"),
        (104, "/d/a.input"),
        (106, "Sun Nov 29 00:59:58 2026MpiDone  all done"),
        (104, "/d/b.input"),
        (105, ""),
        (104, "/d/c.input"),
        (108, ""),
        (101, ""),
    ]:
        c.apply(code, text.encode())
    assert c.done and c.server_time == "Sun Nov 29 01:00:00 2026"
    assert {k: (v.state, v.time, v.message) for k, v in c.jobs.items()} == {
        "/d/a.input": ("MpiDone", "Sun Nov 29 00:59:58 2026", "all done"),
        "/d/b.input": ("no .difxlog", "", ""),
        "/d/c.input": ("no status", "", ""),
    }


def test_stop_is_confirmed_only_by_the_correlator():
    w = StopWatch("j", stopped_at=0.0, quiet=3.0)
    assert not w.observe("Terminated", -1, 0.5)  # a wrapper's word proves nothing
    assert not w.observe("Running", 0, 1.0)
    assert w.observe("MpiDone", 0, 1.5) and w.confirmation == "the correlator reported MpiDone"


def test_stop_confirmed_by_silence_after_a_reported_kill():
    w = StopWatch("j", stopped_at=10.0, quiet=3.0)
    w.diagnostic("executing: /bin/ps -ef | /bin/grep mpifxcorr\n")
    assert not w.check(20.0)  # silence without a kill proves nothing
    w.diagnostic("killing PID 4242 on difxhead")
    assert not w.observe("Running", 0, 11.0)  # in flight when the kill came
    assert not w.check(13.9)
    assert w.check(14.0) and w.ended == "killed"
    assert w.confirmation == (
        "guiServer reported killing PID 4242 on difxhead, and the correlator has been "
        "silent for 3 s since"
    )


def test_stop_failures_say_what_was_seen():
    running = StopWatch("j", stopped_at=0.0)
    running.observe("Running", 0, 1.0)
    assert running.failure(5) == (
        "j: the correlator still reports (Running (correlator)) 5 s after DifxStop; "
        "the job is still running"
    )
    wrapper = StopWatch("j", stopped_at=0.0)
    wrapper.observe("Terminated", -1, 1.0)
    assert not wrapper.check(100.0)
    assert wrapper.failure(5) == (
        "j: guiServer found no process to kill and the correlator reported no end within "
        "5 s; the end is not confirmed"
    )


def test_machines_round_trip_and_errors():
    m = Machines("head", ("ds1", "ds2"), (("cn01", 7), ("cn02", 5)))
    machines = "head\nds1\nds2\ncn01\ncn02\n"
    assert parse_machines(machines, "NUMBER OF CORES:    2\n7\n5\n", 2) == m
    assert datastream_count("JOB ID:   1\nDATASTREAM ENTRIES: 2\n") == 2
    with pytest.raises(RemoteProtocolError, match="NUMBER OF CORES"):
        parse_machines(machines, "7\n5\n", 2)
    with pytest.raises(RemoteProtocolError, match="declares 2 cores with 1 counts"):
        parse_machines(machines, "NUMBER OF CORES: 2\n7\n", 2)
