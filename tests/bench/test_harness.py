"""The benchmarks' shared harness: its figures, options, work folder and exit timing."""

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from feed_probe import FeedProbe, seq_report  # noqa: E402
from harness import ExitWatch, Proc, Results, bench_parser, pct, work_folder  # noqa: E402


def test_pct_interpolates_between_ranks_and_is_nan_without_values():
    assert pct([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert pct([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)
    assert math.isnan(pct([], 0.5))


def test_results_mark_a_row_pass_miss_or_neither():
    res = Results()
    res.add("a", "-", "1", "2", True)
    res.add("b", "-", "1", "2", False)
    res.add("c", "-", "1", "2", None)
    assert [r.verdict for r in res.rows] == ["PASS", "MISS", "-"]


def test_parser_offers_json_and_keep_only_to_benchmarks_that_ask():
    plain = bench_parser("Doc.\n\nMore.", "short")
    assert plain.description == "Doc."
    assert vars(plain.parse_args(["--quick"])) == {"quick": True}
    with pytest.raises(SystemExit):
        plain.parse_args(["--keep"])
    full = bench_parser("Doc.", json=True, keep=True)
    assert vars(full.parse_args(["--json", "x.json", "--keep"])) == {
        "quick": False,
        "json": "x.json",
        "keep": True,
    }


def test_work_folder_is_removed_even_after_an_error_unless_kept(capsys):
    with pytest.raises(RuntimeError), work_folder("bench-test-", keep=False) as gone:
        (gone / "log").write_text("x")
        raise RuntimeError("the run broke off")
    assert not gone.exists()
    with work_folder("bench-test-", keep=True) as kept:
        pass
    assert kept.is_dir() and f"work folder kept: {kept}" in capsys.readouterr().out
    kept.rmdir()


def test_exit_watch_times_each_exit_and_waits_for_one_with_a_bound(tmp_path):
    quick = Proc("quick", ["sleep", "0.2"], tmp_path)
    slow = Proc("slow", ["sleep", "30"], tmp_path)
    watch = ExitWatch({"quick": quick, "slow": slow})
    watch.wait("quick", 10)
    assert 0.1 < watch.exits["quick"] < 10
    watch.wait("slow", 0.5)  # gives up at the bound: the process still runs
    assert "slow" not in watch.exits and slow.alive()
    slow.stop()
    watch.join(5)
    assert watch.exits["slow"] >= 0.5


def test_feed_probe_counts_samples_and_seq_report_finds_the_gap():
    probe = FeedProbe()
    block = {"timestamps": [1.0, 2.0], "data": {}}
    probe({"b": block}, {"seq_no": 0, "seq_count": 1})
    probe({"b": block}, {"seq_no": 3, "seq_count": 2})
    events = probe.snapshot()
    assert [e[3] for e in events] == [2, 2]
    assert seq_report(events) == (0, 5, 2, [(1, 3)])
