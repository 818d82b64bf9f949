"""The inner-packet readers of `replies`, sans-I/O: what each code puts in the result, what
goes to the session log, what we answer, and when the operation ends or fails."""

from __future__ import annotations

from socs_like_agents.difx_relay.codes import DirectoryCode, FileListCode, Mk5Code
from socs_like_agents.difx_relay.framing import pack_int
from socs_like_agents.difx_relay.models import DirectoryResult, FileListResult, MachinesResult
from socs_like_agents.difx_relay.replies import (
    DirectoryReader,
    FileListReader,
    MachinesReader,
    OutputReader,
    Step,
)


def _feed(reader, *packets):
    steps = []
    for code, payload in packets:
        assert not reader.done
        steps.append(reader.apply(code, payload))
    return steps


def test_machines_names_tests_warnings_and_failure():
    r = MachinesReader(MachinesResult(input="/c/j.input", machines_file="m", threads_file="t"))
    steps = _feed(
        r,
        (102, b""),
        (111, b"/c/j.machines\n"),
        (120, b"cn01"),
        (119, b"cn02"),
        (121, b""),
        (105, b""),
    )
    assert [s.line for s in steps] == [
        "started",
        "machines file name: /c/j.machines",
        "success mpirun: cn01",
        "failure mpirun: cn02",
        "low thread count",
        "failure no headnode",
    ]
    res = r.result
    assert res.machines_file == "/c/j.machines" and res.threads_file == "t"
    assert res.nodes_passed == ["cn01"] and res.nodes_failed == ["cn02"]
    assert res.warnings == ["low thread count"] and res.errors == ["failure no headnode"]
    assert r.apply(100, b"") == Step("terminated") and r.done
    assert r.failure == "define machines for /c/j.input failed: failure no headnode"
    ok = MachinesReader(MachinesResult(input="i", machines_file="m", threads_file="t"))
    assert ok.apply(101, b"") == Step("ended gracefully") and ok.done and ok.failure is None


def test_file_list_answers_the_question_and_a_cancel_is_no_failure():
    for overwrite, answer in ((False, FileListCode.CANCEL), (True, FileListCode.OVERWRITE)):
        r = FileListReader("/d/l.txt", overwrite, FileListResult(destination="/d/l.txt"))
        assert r.apply(103, b"") == Step("destination exists", answer)
        assert r.result.existed
    r = FileListReader("/d/l.txt", False, FileListResult(destination="/d/l.txt"))
    _feed(r, (103, b""))
    assert r.apply(100, b"") == Step("terminated") and r.done
    assert r.result.cancelled and r.failure is None

    r = FileListReader("/d/l.txt", True, FileListResult(destination="/d/l.txt"))
    steps = _feed(
        r,
        (104, b"/d/l2.txt\n"),
        (111, b"a.vdif 60000.5 60000.6\n"),
        (108, b""),
        (112, b"1"),
        (110, pack_int(2)),
    )
    assert [s.line for s in steps] == [
        "final name: /d/l2.txt",
        "file result: a.vdif 60000.5 60000.6",
        "open error",
        "errors encountered: 1",
        "processed count: 2",
    ]
    res = r.result
    assert res.destination == "/d/l2.txt" and res.lines == ["a.vdif 60000.5 60000.6"]
    assert res.errors == ["open error: ", "errors encountered: 1"] and res.processed == 2
    r.apply(100, b"")
    assert r.done and not r.result.cancelled
    assert r.failure == "file list /d/l.txt failed: open error: ; errors encountered: 1"


def test_directory_keeps_its_lines_out_of_the_log():
    r = DirectoryReader(DirectoryResult(mark5="m5", vsn="V"))
    steps = _feed(r, (301, b""), (303, b"/m/V.dir"), (307, b"Dec  7"), (310, b"V 3 A"))
    assert [s.line for s in steps] == ["started", "fullpath: /m/V.dir", "date: Dec  7", None]
    assert (r.result.path, r.result.date, r.result.lines) == ("/m/V.dir", "Dec  7", ["V 3 A"])
    r.apply(302, b"")
    assert r.done and r.failure is None

    r = DirectoryReader(DirectoryResult(mark5="m5", vsn="V"))
    _feed(r, (305, b"ssh: no\n"), (314, b""), (306, b""), (304, b""))
    assert r.result.warnings == ["ssh: no", "generate errors"]
    assert r.result.errors == ["no environment variable"] and r.done
    assert (
        r.failure
        == "directory of V on m5 failed: no environment variable; ssh: no; generate errors"
    )


def test_command_output_line_by_line():
    mk = OutputReader(Mk5Code.INFORMATION, Mk5Code.ERROR, Mk5Code.ENDED_GRACEFULLY)
    steps = _feed(mk, (102, b""), (108, b"VSN A\n"), (110, b"bad\n"), (314, b""))
    assert [s.line for s in steps] == [None, "VSN A", "error: bad", None]
    assert mk.output == ["VSN A"] and mk.errors == ["bad"] and not mk.had_errors
    mk.apply(101, b"")
    assert mk.done

    cp = OutputReader(
        DirectoryCode.GENERATE_INFO,
        DirectoryCode.MPIRUN_ERROR,
        DirectoryCode.COMPLETED,
        errors_flag=DirectoryCode.GENERATE_ERRORS,
    )
    _feed(cp, (301, b""), (312, b"Copied scan 1\n"), (314, b""))
    assert cp.had_errors and cp.output == ["Copied scan 1"]
    cp.apply(302, b"")
    assert cp.done
