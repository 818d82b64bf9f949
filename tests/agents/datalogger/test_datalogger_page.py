"""The plot page rendered in headless Chromium: one subplot per device, no console errors."""

from __future__ import annotations

import json

from socs_like.db import Database
from socs_like_agents.datalogger.grab import GrabOptions
from socs_like_agents.datalogger.plots import TRACES
from socs_like_agents.datalogger.service import Grabber, GrabberConfig
from socs_like_agents.datalogger.window import make_window

from .conftest import write_list

DEVICES = ("B:VIMIN", "B:IMINER", "I:IB", "I:MDAT40")


def test_plot_page_shows_one_subplot_per_device(logger_sim, browser_page, tmp_path):
    config = GrabberConfig(
        logger_url=logger_sim.url,
        device_list=write_list(tmp_path / "list.txt", *DEVICES),
        options=GrabOptions(draftdir=tmp_path / "draft", outdir=tmp_path / "out"),
        plot_dir=tmp_path / "plots",
        site="test-site",
    )
    grabber = Grabber(config, Database(tmp_path / "stats.db"))
    grabber.upgrade()
    for day in range(3):  # three windows: three points per trace
        grabber.grab_params(make_window(now=1_800_000_000.0 - day * 86400, minutes=30))
    page = tmp_path / "plots" / "index.html"
    figure = json.loads((tmp_path / "plots" / "figure.json").read_text())
    assert len(figure["data"]) == len(DEVICES) * len(TRACES)
    assert {len(t["x"]) for t in figure["data"]} == {3}

    browser_page.page.goto(page.as_uri())
    browser_page.page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)
    subplots = browser_page.page.eval_on_selector_all(
        ".js-plotly-plot .cartesianlayer > .subplot", "els => els.length"
    )
    titles = browser_page.page.eval_on_selector_all(
        ".js-plotly-plot .annotation-text", "els => els.map(e => e.textContent)"
    )
    traces = browser_page.page.eval_on_selector_all(
        ".js-plotly-plot .scatterlayer .trace", "els => els.length"
    )
    shot = browser_page.screenshot("plot-page")
    assert shot.stat().st_size > 10_000
    assert browser_page.console_errors == []
    assert subplots == len(DEVICES)
    assert sorted(titles) == sorted(DEVICES)
    assert traces == len(DEVICES) * len(TRACES)
    assert browser_page.page.text_content("#summary") == "4 devices, 3 windows"
