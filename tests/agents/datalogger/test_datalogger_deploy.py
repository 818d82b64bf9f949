"""What a lab deploying the grabber finds: the README's account of the requests and of the
files is what the grabber sends and writes; the command line's help and its plot folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

import socs_like_agents.datalogger
from socs_like_agents.datalogger.client import HttpLogger
from socs_like_agents.datalogger.errors import RequestError
from socs_like_agents.datalogger.grab import GrabOptions, grab_events, grab_params
from socs_like_agents.datalogger.listfile import parse_device_list
from socs_like_agents.datalogger.protocol import event_target, param_target, timeline_target
from socs_like_agents.datalogger.simulator import Behaviour, answer
from socs_like_agents.datalogger.timeline import write_file
from socs_like_agents.datalogger.window import make_window, parse_stopat

from .conftest import run_cli, write_list

README = Path(socs_like_agents.datalogger.__file__).with_name("README.md").read_text()
HOUR = make_window(now=1_800_000_000.0, hours=1)


def section(title: str) -> str:
    """The README's ``## title`` section."""
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def tables(text: str) -> dict[str, list[list[str]]]:
    """The markdown tables in ``text`` by their first header cell: the cells of their rows."""
    found = {}
    for block in re.findall(r"(?:^\|.*\n)+", text, re.M):
        lines = block.splitlines()
        rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
        found[rows[0][0]] = rows[2:]
    return found


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_requests_carry_whole_utc_seconds_as_the_logger_takes_them():
    # the logger takes whole seconds: 1710028800, never 1710028800.0
    assert param_target("MLrn", "B:VIMIN", 1710028800.0, 1710115200.0) == (
        "/v1/param?node=MLrn&device=B%3AVIMIN&start=1710028800&stop=1710115200"
    )
    assert event_target(10, 1710028800.0, 1710028860.0) == (
        "/v1/event?code=10&start=1710028800&stop=1710028860"
    )
    assert timeline_target(1710028800, 1710028860) == (
        "/v1/timeline?start=1710028800&stop=1710028860"
    )
    with pytest.raises(RequestError, match=r"whole UTC epoch seconds, not 1710028800\.5"):
        param_target("MLrn", "B:VIMIN", 1710028800.5, 1710115200.0)
    # and the simulator refuses what the logger refuses
    status, body, _ = answer(Behaviour(), "/v1/event?code=2&start=1710028800.0&stop=1710028860")
    assert (status, body) == (
        400,
        b"bad request: start must be whole UTC epoch seconds, not '1710028800.0'\n",
    )
    # a window is whole seconds: a length that is not is refused, not sent rounded
    assert make_window(now=1_800_000_000.0, hours=0.1).seconds == 360
    with pytest.raises(RequestError, match=r"window of 0.5 s: the logger takes whole seconds"):
        make_window(now=1_800_000_000.0, seconds=0.5)
    # the README says so, with the example the grabber sends
    protocol = " ".join(section("The HTTP protocol").split())
    assert "whole UTC epoch seconds" in protocol and "start=1710028800&" in protocol


def test_the_readme_describes_the_files_the_grabs_write(logger_sim, tmp_path):
    options = GrabOptions(draftdir=tmp_path / "draft", outdir=tmp_path / "out", retry_delay=0.05)
    source = HttpLogger(logger_sim.url)
    devices = parse_device_list("MLrn B:VIMIN\nMLrn I:IB\n")
    [param] = grab_params(source, devices, HOUR, options)
    event = grab_events(source, HOUR, options, max_evt=0x10)
    timeline = write_file(
        source.timeline(HOUR.start, HOUR.stop), HOUR, tmp_path / "draft", tmp_path / "tl", "x"
    )
    files = {"param": param.path, "event": event.path, "timeline": timeline}

    text = tables(section("Files"))
    datasets = {row[1]: (row[0], row[2]) for row in text["datasets"]}
    attributes: dict[str, set[str]] = {kind: set() for kind in files}
    for row in text["file attribute"]:
        kinds = list(files) if row[1] == "all" else [k.strip() for k in row[1].split(",")]
        for kind in kinds:
            attributes[kind] |= set(ticked(row[0]))

    for kind, path in files.items():
        with h5py.File(path) as h5:
            # each attribute a file holds is listed for its kind, and only those
            assert attributes[kind] == set(h5.attrs), kind
            columns = datasets[kind][1]
            for name in h5:
                # the columns attribute is JSON text, shown as the file holds it
                assert f"`{h5[name].attrs['columns']}`" in columns, (kind, name)
    # event datasets: named as the code, lowercase hex of two digits, as the README's examples
    with h5py.File(event.path) as h5:
        assert sorted(h5) == ["0x00", "0x02", "0x07", "0x0f"]
    examples = re.findall(r"`(0x[0-9a-fA-F]+)`", datasets["event"][0])
    assert len(examples) >= 3 and any(re.search("[a-f]", e) for e in examples)
    assert all(e == f"{int(e, 16):#04x}" for e in examples), examples


def test_the_readme_shows_a_list_file_with_comments_and_blank_lines():
    [block] = re.findall(r"```text\n(.*?)```", section("The device list"), re.S)
    lines = block.splitlines()
    assert any(line.startswith("#") for line in lines) and "" in lines
    assert [d.device for d in parse_device_list(block)] == ["B:VIMIN", "B:IMINER", "I:IB"]
    said = " ".join(section("The device list").split())
    assert "`#` is a comment" in said and "blank lines are skipped" in said


def test_only_first_records_the_codes_it_asked_for(logger_sim, tmp_path):
    """-o asks code after code until one has data: ``requested`` lists those, not 0..maxEvt."""
    options = GrabOptions(draftdir=tmp_path / "draft", outdir=tmp_path / "out")
    stop = parse_stopat("2027-01-15 00:00:31")
    window = make_window(now=0, stopat="2027-01-15 00:00:31", seconds=1)
    assert window.start == stop - 1  # 0x00 occurs each minute, 0x02 at :30.346
    report = grab_events(HttpLogger(logger_sim.url), window, options, max_evt=0x20, only_first=True)
    assert list(report.samples) == ["0x02"] and report.empty == ["0x00", "0x01"]
    assert report.path is not None
    with h5py.File(report.path) as h5:
        assert json.loads(h5.attrs["requested"]) == ["0x00", "0x01", "0x02"]
        assert json.loads(h5.attrs["empty"]) == ["0x00", "0x01"]
        assert sorted(h5) == ["0x02"] and np.asarray(h5["0x02"]).shape == (1, 2)
    # the same grab again finds that file
    again = grab_events(HttpLogger(logger_sim.url), window, options, max_evt=0x20, only_first=True)
    assert again.reused and again.path == report.path and list(again.samples) == ["0x02"]
    # a grab of every code is another grab
    every = grab_events(HttpLogger(logger_sim.url), window, options, max_evt=0x20)
    assert not every.reused
    with h5py.File(every.path) as h5:
        assert json.loads(h5.attrs["requested"]) == [f"{c:#04x}" for c in range(0x21)]


@pytest.mark.parametrize("command", ["params", "events"])
def test_grab_help_gives_each_request_setting_with_its_default(tmp_path, command):
    done = run_cli(command, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # each option's entry: from its line to the next option's
    entries = [" ".join(e.split()) for e in re.split(r"\n  (?=-)", done.stdout)]
    for option, default in (
        ("--concurrency", "8"),
        ("--timeout", "60"),
        ("--retries", "2"),
        ("--retry-delay", "1"),
    ):
        [entry] = [e for e in entries if e.startswith(f"{option} ")]
        # a metavar, words saying what it is, then its default
        assert re.fullmatch(rf"{option} \S+ \w+ .+ \(default {default}\)", entry), entry


def test_the_plot_page_goes_beside_the_database_not_into_the_output_folder(logger_sim, tmp_path):
    """The original's cron line had --outdir on tape: the page must not land there."""
    write_list(tmp_path / "list.txt", "B:VIMIN")
    done = run_cli(
        *("params", "--url", logger_sim.url, "--list", "list.txt", "--hours", "1"),
        *("--stopat", "2027-01-15 00:00:00", "--outdir", "tape", "--db-path", "db/stats.db"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    page = tmp_path / "db" / "plots" / "index.html"
    assert f"plot page at {page}" in done.stdout and page.exists()
    assert sorted(p.name for p in (tmp_path / "tape").iterdir()) == [
        p.name for p in (tmp_path / "tape").glob("MLParamData_*.h5")
    ]
    # distilling a file of the output folder rebuilds that same page
    [path] = (tmp_path / "tape").glob("*.h5")
    page.unlink()
    done = run_cli("distill", str(path), "--db-path", "db/stats.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert page.exists() and not (tmp_path / "tape" / "plots").exists()
    # a database server has no folder to put it beside: --plot-dir is asked for
    refused = run_cli("plots", "--db-path", "postgresql://u@127.0.0.1:9/stats", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "socs-like grab: give --plot-dir: the plot page goes beside the statistics database "
        "by default, and postgresql://u@127.0.0.1:9/stats is not a file"
    )
    # the README says where the page goes
    assert "`plots` beside the statistics database" in section("Arguments")
