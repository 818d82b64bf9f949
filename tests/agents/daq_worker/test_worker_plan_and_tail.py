"""The organize plan and report, the status model, and reading a file's tail backwards."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socs_like_agents.daq_worker.organize import (
    TransferReport,
    is_graw,
    plan_organize,
    same_file_pairs,
)
from socs_like_agents.daq_worker.status import WorkerStatus, field_prefix
from socs_like_agents.daq_worker.tail import TailReader

# a loaded machine (CI, shared dev boxes) makes generation slow, never wrong
SLOW_MACHINE = HealthCheck.too_slow


def test_plan_moves_new_files_and_leaves_clashes():
    plan = plan_organize(
        source_dir="/d",
        destination="/d/e/run_0001",
        source_names=["a.graw", "b.graw", "c.graw", "notes.txt", ".graw"],
        dest_names=["b.graw", "z.graw", "other.txt"],
    )
    assert plan.to_move == ("a.graw", "c.graw")
    assert plan.clashes == ("b.graw",)
    assert plan.already_there == ("z.graw",)


def test_same_file_pairs_are_the_names_whose_two_paths_share_an_inode():
    lines = ["2049:11", "2049:11", "2049:12", "2049:13", "2050:11", "2049:11"]
    assert same_file_pairs(lines, ["a.graw", "b.graw", "c.graw"]) == ["a.graw"]
    assert same_file_pairs(lines[:3], ["a.graw", "b.graw"]) == ["a.graw"]  # short output


def test_report_summary_and_truncated_dict():
    plan = plan_organize(source_dir="/d", destination="/d/r", source_names=[], dest_names=[])
    report = TransferReport.from_plan(plan)
    report.done = [f"f{i}.graw" for i in range(5)]
    report.failed = {"x.graw": "Permission denied"}
    assert not report.complete
    assert report.summary() == "5 moved to /d/r; 1 failed (x.graw: Permission denied)"
    short = report.to_dict(max_names=2)
    assert short["done"] == ["f0.graw", "f1.graw"]
    assert short["counts"]["done"] == 5 and short["truncated"] is True
    assert report.destination_of("f0.graw") == "/d/r/f0.graw"


@settings(max_examples=200, deadline=None, suppress_health_check=[SLOW_MACHINE])
@given(
    st.sets(st.sampled_from([f"{c}.graw" for c in "abcdefgh"] + ["x.txt"])),
    st.sets(st.sampled_from([f"{c}.graw" for c in "abcdefgh"] + ["y.txt"])),
)
def test_plan_partitions_every_graw_name_once(source, dest):
    plan = plan_organize(source_dir="/s", destination="/s/r", source_names=source, dest_names=dest)
    groups = [set(plan.to_move), set(plan.already_there), set(plan.clashes)]
    union = set().union(*groups)
    assert union == {n for n in source | dest if is_graw(n)}
    assert sum(len(g) for g in groups) == len(union)
    # nothing in the run folder is ever planned as a move target
    assert not set(plan.to_move) & dest


def test_status_feed_samples_use_valid_fixed_fields():
    ok = WorkerStatus(
        host="cobo-1.lab", checked_at=1.0, state="ok", ecc_server_up=True, data_router_up=False
    )
    link, readings = (sample.to_dict() for sample in ok.feed_samples())
    assert link == {
        "block_name": "cobo_1_lab_link",
        "timestamp": 1.0,
        "data": {"cobo_1_lab_reachable": 1},
    }
    assert readings["data"] == {
        "cobo_1_lab_ecc_server_up": 1,
        "cobo_1_lab_data_router_up": 0,
        "cobo_1_lab_working_dir_clean": -1,
        "cobo_1_lab_graw_files": -1,
        "cobo_1_lab_graw_bytes": -1,
    }
    down = WorkerStatus(host="9w", checked_at=2.0, state="unreachable", error="refused")
    assert [sample.to_dict() for sample in down.feed_samples()] == [
        {"block_name": "h_9w_link", "timestamp": 2.0, "data": {"h_9w_reachable": 0}}
    ]
    assert down.to_dict()["reachable"] is False
    assert field_prefix("a.b") == "a_b"


def tail_of(data: bytes, num_lines: int, block: int) -> list[str]:
    reader = TailReader(len(data), num_lines, block=block)
    reads = 0
    while (want := reader.next_read()) is not None:
        offset, length = want
        reader.feed(data[offset : offset + length])
        reads += 1
    return reader.lines()


@pytest.mark.parametrize("block", [1, 3, 16384])
def test_tail_examples(block):
    assert tail_of(b"a\nb\nc\n", 2, block) == ["b", "c"]
    assert tail_of(b"a\nb\nc", 2, block) == ["b", "c"]
    assert tail_of(b"a\r\nb\r\n", 5, block) == ["a", "b"]
    assert tail_of(b"", 5, block) == []
    assert tail_of(b"a\n\n", 5, block) == ["a", ""]
    assert tail_of(b"a\nb\n", 0, block) == []


def test_tail_reads_only_the_end_of_a_big_file():
    data = b"".join(b"line %d\n" % i for i in range(100_000))
    reader = TailReader(len(data), 3, block=4096)
    offset, length = reader.next_read()
    reader.feed(data[offset : offset + length])
    assert reader.next_read() is None
    assert reader.lines() == ["line 99997", "line 99998", "line 99999"]


def test_tail_never_reads_more_than_max_bytes():
    data = b"x" * 100_000 + b"\nlast\n"  # one huge line
    reader = TailReader(len(data), 2, block=1000, max_bytes=5000)
    read = 0
    while (want := reader.next_read()) is not None:
        offset, length = want
        reader.feed(data[offset : offset + length])
        read += length
    assert read == 5000
    assert reader.lines() == ["last"]  # the cut line is not shown as if whole


def test_tail_of_a_file_that_shrank_keeps_what_it_read():
    reader = TailReader(100, 5, block=10)
    reader.next_read()
    reader.feed(b"x\ny\n")  # fewer bytes than asked: the file was truncated
    assert reader.next_read() is None
    assert reader.lines() == ["x", "y"]


@settings(max_examples=300, deadline=None, suppress_health_check=[SLOW_MACHINE])
@given(
    st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"")),
    st.integers(0, 8),
    st.integers(1, 17),
)
def test_tail_matches_splitting_the_whole_file(data, num_lines, block):
    text = data.decode("utf-8", errors="replace")
    expected = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    expected = [] if not data or num_lines == 0 else expected[-num_lines:]
    # "\n" never occurs inside a UTF-8 sequence, so decoding per line equals decoding whole
    assert tail_of(data, num_lines, block) == expected
