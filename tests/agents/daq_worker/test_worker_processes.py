"""ps and lsof output parsing, and telling our programs from their look-alikes."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socs_like_agents.daq_worker.errors import ProgramNotRunning, RemoteError
from socs_like_agents.daq_worker.processes import (
    ProcessCwd,
    lsof_cwd_command,
    parse_lsof,
    parse_probe,
    parse_ps,
    pids_of,
    probe_command,
    program_matches,
    single_cwd,
)

# a loaded machine (CI, shared dev boxes) makes generation slow, never wrong
SLOW_MACHINE = HealthCheck.too_slow

LINUX_PS = """\
    1 systemd
  812 sshd
 4242 dataRouter
 4243 getEccSoapServe
 5000 dataRouterOld
"""
MACOS_PS = """\
    1 /sbin/launchd
  512 /Users/attpc/GET/bin/dataRouter
  513 /Users/attpc/GET/bin/getEccSoapServer
"""


def test_linux_ps_finds_both_programs_despite_truncated_names():
    entries = parse_ps(LINUX_PS)
    assert pids_of(entries, "dataRouter") == [4242]
    assert pids_of(entries, "getEccSoapServer") == [4243]


def test_macos_ps_full_paths_match_by_basename():
    entries = parse_ps(MACOS_PS)
    assert pids_of(entries, "dataRouter") == [512]
    assert pids_of(entries, "getEccSoapServer") == [513]


@pytest.mark.parametrize(
    ("command", "program", "expected"),
    [
        ("dataRouter", "dataRouter", True),
        ("dataRouterOld", "dataRouter", False),
        ("dataRoute", "dataRouter", False),  # a prefix shorter than 15 chars is another program
        ("getEccSoapServe", "getEccSoapServer", True),
        ("getEccSoapServe", "getEccSoapServeX", True),
        ("getEccSoapServe", "getEccSoapServe", True),
        ("/opt/x/getEccSoapServer", "getEccSoapServer", True),
    ],
)
def test_program_matches(command, program, expected):
    assert program_matches(command, program) is expected


def test_ps_skips_lines_that_are_not_pid_and_name():
    assert parse_ps("  PID COMMAND\n\n12\nabc def\n 7 a b c\n") == parse_ps(" 7 a b c\n")
    assert parse_ps(" 7 a b c\n")[0].command == "a b c"


def test_lsof_record_gives_the_working_directory():
    found = parse_lsof("p4242\ncdataRouter\nfcwd\nn/data/stage\n")
    assert found == [ProcessCwd(pid=4242, command="dataRouter", cwd="/data/stage")]
    assert single_cwd(found, "dataRouter") == "/data/stage"


def test_no_lsof_output_means_not_running():
    with pytest.raises(ProgramNotRunning, match="dataRouter is not running"):
        single_cwd(parse_lsof(""), "dataRouter")


def test_lsof_naming_another_program_is_refused():
    found = parse_lsof("p1\ncdataRouterOld\nfcwd\nn/tmp\n")
    with pytest.raises(RemoteError, match="looked for dataRouter but found dataRouterOld"):
        single_cwd(found, "dataRouter")


def test_two_routers_in_different_directories_are_ambiguous():
    found = parse_lsof("p1\ncdataRouter\nfcwd\nn/a\np2\ncdataRouter\nfcwd\nn/b\n")
    with pytest.raises(RemoteError, match="2 dataRouter processes run in different directories"):
        single_cwd(found, "dataRouter")


def test_lsof_garbage_is_a_remote_error():
    with pytest.raises(RemoteError, match="not a field"):
        parse_lsof("p1\n/etc/passwd\n")
    with pytest.raises(RemoteError, match="before any process"):
        parse_lsof("n/tmp\n")


def test_lsof_command_quotes_the_program_name():
    assert lsof_cwd_command("data Router;rm") == "lsof -b -w -a -d cwd -c 'data Router;rm' -Fpcn"


@settings(max_examples=200, deadline=None, suppress_health_check=[SLOW_MACHINE])
@given(st.text())
def test_ps_parser_never_fails(text):
    for entry in parse_ps(text):
        assert entry.pid >= 0 and entry.command


@settings(max_examples=200, deadline=None, suppress_health_check=[SLOW_MACHINE])
@given(st.text())
def test_lsof_parser_returns_records_or_a_remote_error(text):
    try:
        found = parse_lsof(text)
    except RemoteError:
        return
    for record in found:
        assert record.pid >= 0


@settings(max_examples=100, deadline=None, suppress_health_check=[SLOW_MACHINE])
@given(
    st.lists(
        st.tuples(
            st.integers(1, 99999),
            st.sampled_from(["dataRouter", "ls", "bash"]),
            st.text(alphabet="abc/", min_size=1),
        ),
        max_size=5,
    )
)
def test_lsof_round_trip(records):
    text = "".join(f"p{pid}\nc{cmd}\nfcwd\nn{cwd}\n" for pid, cmd, cwd in records)
    assert parse_lsof(text) == [ProcessCwd(pid=p, command=c, cwd=n) for p, c, n in records]


def test_probe_output_splits_into_ps_and_lsof():
    probe = parse_probe(LINUX_PS + "@@lsof\np4242\ncdataRouter\nfcwd\nn/data/stage\n")
    assert pids_of(probe.processes, "dataRouter") == [4242]
    assert probe.lsof == [ProcessCwd(pid=4242, command="dataRouter", cwd="/data/stage")]
    missing = parse_probe(LINUX_PS + "@@lsof\n@@lsof-missing\n")
    assert missing.lsof is None and missing.lsof_missing
    skipped = parse_probe(LINUX_PS + "@@lsof\n@@lsof-skipped\n")
    assert skipped.lsof is None and not skipped.lsof_missing
    assert parse_probe(LINUX_PS).lsof is None  # ps only
    assert parse_probe(LINUX_PS + "@@lsof\n").lsof == []  # lsof found nothing


def test_probe_command_runs_lsof_as_the_method_asks():
    assert probe_command("dataRouter", "proc") == "ps -A -o pid= -o comm="
    lsof = probe_command("dataRouter", "lsof")
    assert "lsof -b -w -a -d cwd -c dataRouter -Fpcn" in lsof and "@@lsof-missing" in lsof
    assert "/proc/self/cwd" not in lsof
    auto = probe_command("dataRouter", "auto")
    assert "if [ -e /proc/self/cwd ]; then echo @@lsof-skipped" in auto


@settings(max_examples=200, deadline=None, suppress_health_check=[SLOW_MACHINE])
@given(st.text(), st.text())
def test_probe_parser_returns_a_probe_or_a_remote_error(ps_text, lsof_text):
    try:
        probe = parse_probe(f"{ps_text}@@lsof\n{lsof_text}")
    except RemoteError:
        return
    assert all(entry.pid >= 0 for entry in probe.processes)
