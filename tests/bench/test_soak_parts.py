"""The soak harness's pure parts: the site's relocation, the fault schedule, the feed ledger."""

import itertools
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from soak_ledger import Sink, feeds_ledger  # noqa: E402
from soak_report import DRAIN, MIN_STEADY, fault_spans, steady_growth  # noqa: E402
from soak_schedule import schedule  # noqa: E402
from soak_site import relocate  # noqa: E402
from soak_watch import FeedLog, Sample  # noqa: E402

REPO = BENCH.parent


def test_the_demo_site_moves_under_its_folder_with_its_ports_changed_everywhere(tmp_path) -> None:
    demo = yaml.safe_load((REPO / "site-config.yaml").read_text())
    moved, how = relocate(demo, tmp_path, REPO, {"datalogger": ["--hours", "1"]}, {8186: 9999})
    text = yaml.safe_dump(moved)
    assert "var/" not in text.replace(f"{tmp_path}/var/", "")
    assert " /tmp/socs-like-difx" not in text and f"{tmp_path}/tmp/socs-like-difx" in text
    for old, new in how.ports.items():
        assert str(new) in text
        assert f":{old}/" not in text and f":{old}\n" not in text
    host = moved["hosts"]["localhost"]
    by_id = {i["instance-id"]: i["arguments"] for i in host["agent-instances"]}
    sims = {s["name"]: s["arguments"] for s in host["simulators"]}
    # the same new port on both ends of each link
    assert by_id["influx-publisher"][by_id["influx-publisher"].index("--port") + 1] == "9999"
    udp = by_id["pysmurf-monitor"][by_id["pysmurf-monitor"].index("--udp-port") + 1]
    assert sims["pysmurf"][sims["pysmurf"].index("--port") + 1] == udp
    assert by_id["datalogger"][-2:] == ["--hours", "1"]
    devices = by_id["datalogger"][by_id["datalogger"].index("--device-list") + 1]
    assert Path(devices).is_file() and Path(devices).is_absolute()
    assert moved["hub"]["wamp_server"] == f"ws://localhost:{how.ports[8001]}/ws"


def test_a_compressed_schedule_has_every_fault_once_within_the_run() -> None:
    agents = {"a": "SupRsync", "b": "RunPipeline", "c": "FakeData", "hm": "HostManager"}
    faults = schedule(agents, ["/x", "/y"], duration=180, seed=5, compressed=True)
    assert faults == schedule(agents, ["/x", "/y"], duration=180, seed=5, compressed=True)
    assert faults != schedule(agents, ["/x", "/y"], duration=180, seed=6, compressed=True)
    kinds = Counter(f.kind for f in faults)
    assert kinds == {"kill": 4, "stop": 1, "hub": 1, "influx": 1, "sshd": 1, "full": 2}
    assert sorted(f.target for f in faults if f.kind == "kill") == sorted(agents)
    assert all(f.at > 0 and f.end < 180 for f in faults)
    by_target: dict[str, list[tuple[float, float]]] = {}
    for f in faults:
        by_target.setdefault(f.target, []).append((f.at, f.end))
    for spans in by_target.values():
        spans.sort()
        assert all(a_end <= b for (_, a_end), (b, _) in itertools.pairwise(spans))


def test_a_two_hour_schedule_kills_every_agent_several_times() -> None:
    agents = {f"agent{i}": "FakeData" for i in range(12)}
    faults = schedule(agents, ["/x"], duration=7200, seed=1)
    kinds = Counter(f.kind for f in faults)
    assert kinds["kill"] == 48 and kinds["influx"] == 1 and kinds["hub"] >= 4
    assert [f.length for f in faults if f.kind == "influx"] == [600.0]
    assert all(30 <= f.length <= 90 for f in faults if f.kind == "stop")


def _feed(samples: list[float], per_record: int = 2, start_seq: int = 0) -> FeedLog:
    log = FeedLog("observatory.fd", "temps")
    for n, i in enumerate(range(0, len(samples), per_record)):
        block = samples[i : i + per_record]
        log.add(
            {"b": {"block_name": "b", "timestamps": block, "data": {"x": block}}},
            {"seq_no": start_seq + n, "seq_count": 1},
            block[-1],
        )
    return log


def _ledger(log, h5, influx, recorder=None, publisher=None, source_dropped=0):
    return feeds_ledger(
        {("observatory.fd", "temps"): log},
        {("fd", "temps", "b"): Counter(h5)},
        {("observatory.fd", "temps"): {round(t * 1e6) for t in influx}},
        (0.0, 100.0),
        "observatory.",
        recorder or Sink("rec"),
        publisher or Sink("pub"),
        source_dropped,
    )


def test_every_sample_everywhere_is_no_loss() -> None:
    times = [float(t) for t in range(1, 21)]
    led = _ledger(_feed(times), times, times)
    assert (led.lost, led.duplicated) == (0, 0)
    assert led.counts["samples published"] == 20


def test_a_sample_a_recorder_lacks_is_a_loss_unless_it_counted_it_dropped() -> None:
    times = [float(t) for t in range(1, 21)]
    led = _ledger(_feed(times), times[:-3], times[1:])
    assert led.lost == 4
    assert led.sizes["not in HDF5: other"] == 3 and led.sizes["not in InfluxDB: other"] == 1
    counted = _ledger(_feed(times), times[:-3], times[1:], Sink("rec", dropped=3))
    assert counted.lost == 1


def test_samples_lost_at_a_recorder_kill_are_named_so() -> None:
    times = [float(t) for t in range(1, 21)]
    led = _ledger(
        _feed(times),
        [t for t in times if not 10 <= t <= 12],
        times,
        Sink("rec", kills=[(12.5, 0.0, 14.0)]),
    )
    assert led.sizes["not in HDF5: in rec's memory when it was killed -9"] == 3
    written = [t for t in times if not 13 <= t <= 15]  # published while it was away
    led = _ledger(_feed(times), written, times, Sink("rec", kills=[(12.5, 0.0, 14.0)]))
    assert led.sizes == {"not in HDF5: published while rec was restarting after a kill": 3}


def test_samples_a_recorder_counted_as_published_while_it_was_down_are_no_loss() -> None:
    times = [float(t) for t in range(1, 21)]
    written = [t for t in times if not 13 <= t <= 15]  # records 6 (13, 14) and 7 (15, 16)
    rec = Sink("rec", kills=[(12.5, 0.0, 14.0)], missed={"observatory.fd.feeds.temps": [(6, 6)]})
    led = _ledger(_feed(times), written, times, rec)
    assert led.counts["counted missed while down or away by rec"] == 2
    assert led.sizes == {"not in HDF5: published while rec was restarting after a kill": 1}
    # InfluxDB holds µs: a sample time read back from it is off by a fraction of one
    odd = [t + 0.3e-6 for t in times]
    pub = Sink("pub", kills=[(12.5, 0.0, 14.0)], missed={"observatory.fd.feeds.temps": [(6, 6)]})
    led = _ledger(_feed(odd), odd, [t for t in odd if not 13 <= t <= 14.1], publisher=pub)
    assert (led.lost, led.counts["counted missed while down or away by pub"]) == (0, 2)


def test_a_backlog_at_a_recorder_kill_is_named_so_however_long() -> None:
    times = [float(t) for t in range(1, 41)]
    written = [t for t in times if not 10 <= t <= 30]
    # 20 s behind when killed at 30.5: everything since 10 was in its memory
    led = _ledger(_feed(times), written, times, Sink("rec", kills=[(30.5, 20.0, 40.0)]))
    assert led.sizes == {"not in HDF5: in rec's memory when it was killed -9": 21}


def test_a_gap_nobody_filled_is_a_loss_unless_its_agent_counted_it() -> None:
    times = [float(t) for t in range(1, 21)]
    log = _feed(times)
    # records 3 and 4 (samples 7..10) reached nobody: the watcher has a gap, so do the recorders
    log.events = [e for e in log.events if e[0] not in (3, 4)]
    for block in log.samples.values():
        block[:] = [t for t in block if not 7 <= t <= 10]
    rest = [t for t in times if not 7 <= t <= 10]
    assert _ledger(log, rest, rest).lost == 2
    assert _ledger(log, rest, rest, source_dropped=2).lost == 0
    # the recorders had them: the watcher alone missed them, nothing was lost
    assert _ledger(log, times, times).lost == 0


def test_a_sample_written_twice_is_a_duplicate() -> None:
    times = [float(t) for t in range(1, 21)]
    led = _ledger(_feed(times), [*times, 5.0], times)
    assert (led.lost, led.duplicated) == (0, 1)


def _life(pid: int, start: float, minutes: int, rss_at: Callable[[float], float]) -> list[Sample]:
    """A process sampled every 5 s; `rss_at(seconds into its life)` in MB."""
    return [
        Sample(start + t, pid, int(rss_at(t) * 1024), 0, "running")
        for t in range(0, minutes * 60, 5)
    ]


def test_steady_growth_leaves_out_warm_up_and_what_a_fault_filled_but_sees_a_leak() -> None:
    def warm_then_flat(t: float) -> float:
        return 100.0 if t < 120 else 125.0  # 25 MB in the first 2 minutes, then nothing

    def queue_filled(t: float) -> float:
        return warm_then_flat(t) + (30.0 if t > 1200 else 0.0)  # InfluxDB away at 20 min

    lives = _life(1, 0.0, 40, warm_then_flat) + _life(2, 2400.0, 40, queue_filled)
    outage = [
        {"time": 3500.0, "event": "influxdb stopped", "at": 9.0, "kind": "influx"},
        {"time": 4100.0, "event": "influxdb back", "at": 9.0, "kind": "influx"},
    ]
    faults = fault_spans(outage)
    assert faults == [(3499.0, 4100.0 + DRAIN)]
    growth, seconds = steady_growth(lives, faults)
    assert growth == 0.0
    assert seconds >= MIN_STEADY
    # a leak of 10 MB/h, steady from the start, is seen through the warm-up rule
    leak = _life(3, 0.0, 80, lambda t: warm_then_flat(t) + 10.0 * t / 3600)
    growth, _ = steady_growth(leak, [])
    assert growth == pytest.approx(10.0, abs=0.2)
    # too little steady time says nothing rather than a warm-up's figure
    assert steady_growth(_life(4, 0.0, 20, warm_then_flat), []) == (None, pytest.approx(900, abs=5))
