"""The DaqWorker's decisions, sans-I/O: which hosts a task runs on, what each host's entry
and the task's end are (``fanout``, ``answers``), and the monitor's tally (``monitoring``)."""

from __future__ import annotations

import pytest

from socs_like_agents.daq_worker import answers, fanout
from socs_like_agents.daq_worker.errors import (
    AuthenticationFailed,
    ConnectError,
    HostKeyRejected,
    ProgramNotRunning,
    RequestError,
)
from socs_like_agents.daq_worker.monitoring import MonitorTally, pause
from socs_like_agents.daq_worker.organize import TransferReport
from socs_like_agents.daq_worker.status import WorkerStatus

SERVED = ["cobo1", "cobo2", "cobo3"]


def test_a_task_runs_on_the_hosts_asked_each_once_or_on_all() -> None:
    assert fanout.select(None, SERVED) == SERVED
    assert fanout.select(["cobo2", "cobo1", "cobo2"], SERVED) == ["cobo2", "cobo1"]
    refusals = {
        "unknown host(s) ['x']; this agent serves ['cobo1', 'cobo2', 'cobo3']": ["cobo1", "x"],
        "unknown host(s) []; this agent serves ['cobo1', 'cobo2', 'cobo3']": [],
        "hosts must be a list of host names, not [['cobo1']]": [["cobo1"]],
    }
    for said, asked in refusals.items():
        with pytest.raises(RequestError) as refused:
            fanout.select(asked, SERVED)  # type: ignore[arg-type]
        assert str(refused.value) == said


def test_name_lists_share_the_budget_but_never_below_twenty() -> None:
    assert [fanout.name_budget(n) for n in (1, 2, 3, 250, 1000)] == [5000, 2500, 1666, 20, 20]


def test_a_host_that_failed_shows_its_connection_state_or_error() -> None:
    cases = [
        (ConnectError("h", "refused"), "unreachable"),
        (HostKeyRejected("h", "not trusted"), "host-key-rejected"),
        (AuthenticationFailed("h", "no"), "auth-failed"),
        (ProgramNotRunning("h: dataRouter is not running"), "error"),
    ]
    for exc, state in cases:
        assert fanout.failure(exc).to_dict() == {"ok": False, "state": state, "error": str(exc)}


def test_a_task_ends_with_each_failed_host_said_and_the_first_in_its_message() -> None:
    results = {
        "cobo3": fanout.failure(ConnectError("cobo3", "Connection refused")),
        "cobo1": answers.program_check("dataRouter", True),
        "cobo2": answers.program_check("dataRouter", False),
    }
    end = fanout.outcome("check_data_router_status", results, now=1.5)
    assert end.data.to_dict() == {
        "hosts": {
            "cobo3": {"ok": False, "state": "unreachable", "error": "cobo3: Connection refused"},
            "cobo1": {"ok": True, "running": True, "summary": "dataRouter runs"},
            "cobo2": {"ok": False, "running": False, "summary": "dataRouter is not running"},
        },
        "failed": ["cobo2", "cobo3"],
        "timestamp": 1.5,
    }
    assert end.messages == ["cobo2: dataRouter is not running", "cobo3: cobo3: Connection refused"]
    assert (end.ok, end.message) == (
        False,
        "check_data_router_status: 1 of 3 hosts ok; cobo2: dataRouter is not running",
    )
    clean = fanout.outcome("tail_file", {"cobo1": answers.tail(["a", "b"])}, now=2.0)
    assert (clean.ok, clean.message, clean.messages) == (True, "tail_file: 1 of 1 hosts ok", [])
    assert clean.data.to_dict()["hosts"] == {"cobo1": {"ok": True, "lines": ["a", "b"]}}


def test_each_answer_is_its_model_flat_with_whether_its_condition_held() -> None:
    assert answers.working_dir("/w").to_dict() == {"ok": True, "working_dir": "/w"}
    files = [f"/w/f{i}.graw" for i in range(3)]
    assert answers.graw_list(files, 2).to_dict() == {
        "ok": True,
        "count": 3,
        "files": files[:2],
        "truncated": True,
    }
    assert answers.graw_list(files, 3).to_dict()["truncated"] is False
    assert answers.clean_check(True).to_dict() == {"ok": True, "clean": True, "summary": "clean"}
    assert answers.clean_check(False).to_dict() == {
        "ok": False,
        "clean": False,
        "summary": ".graw files are waiting",
    }
    report = TransferReport(
        action="moved", source_dir="/w", destination="/w/e1/run_0001", done=["a", "b", "c"]
    )
    cut = answers.transfer(report, budget=2).to_dict()
    assert (cut["ok"], cut["done"], cut["truncated"]) == (True, ["a", "b"], True)
    assert cut["summary"] == "3 moved to /w/e1/run_0001"
    report.clashes.append("d")
    whole = answers.transfer(report).to_dict()
    assert whole["ok"] is False and "truncated" not in whole and whole["done"] == ["a", "b", "c"]


def _reading(host: str, state: str, error: str | None = None) -> WorkerStatus:
    return WorkerStatus(host=host, checked_at=10.0, state=state, error=error)


def test_the_monitor_counts_problems_and_says_each_change_of_state_once() -> None:
    tally = MonitorTally(["cobo1", "cobo2"])
    assert tally.record([_reading("cobo1", "ok"), _reading("cobo2", "unreachable", "down")]) == [
        "cobo1 is ok",
        "cobo2 is unreachable: down",
    ]
    assert tally.record([_reading("cobo1", "ok"), _reading("cobo2", "unreachable", "down")]) == []
    assert tally.record([_reading("cobo1", "error", "boom"), _reading("cobo2", "ok")]) == [
        "cobo1 is error: boom",
        "cobo2 is ok",
    ]
    data = tally.data(sweep_seconds=0.123456, now=99.0).to_dict()
    assert data == {
        "hosts": {
            "cobo1": _reading("cobo1", "error", "boom").to_dict(),
            "cobo2": _reading("cobo2", "ok").to_dict(),
        },
        "problems": {"cobo1": 1, "cobo2": 2},
        "sweeps": 3,
        "sweep_seconds": 0.1235,
        "timestamp": 99.0,
    }
    # sweeps start an interval apart; one that overran starts the next at once
    assert (pause(10.0, 2.5), pause(10.0, 12.0)) == (7.5, 0.0)
