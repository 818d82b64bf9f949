"""The plot page: a plotly.js figure from the statistics, and a static page showing it.

The figure is what the original's ``DB_to_JSON`` produced: for each device one subplot with
traces max, mode+std, mode, mode−std and min over the window start times. The page folder
holds ``figure.json`` (that figure), ``plotly.min.js`` copied from the installed ``plotly``
Python package (no internet needed, nothing vendored in the repository) and ``index.html``,
which carries the figure inline so it opens from disk as well as from a web server. Each file
is replaced whole.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from .stats import INTERVAL_PREFIX, StatRow

TRACES = (
    ("max", "#d62728"),
    ("mode+std", "#ff7f0e"),
    ("mode", "#1f77b4"),
    ("mode-std", "#ff7f0e"),
    ("min", "#2ca02c"),
)
SUBPLOT_HEIGHT = 220


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` package."""
    import plotly

    path = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package at {path}")
    return path


def build_figure(rows: list[StatRow], title: str = "Data logger statistics") -> dict[str, Any]:
    """The plotly.js figure: one subplot per device (``Interval_`` rows are not plotted)."""
    table: dict[str, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if not r.param.startswith(INTERVAL_PREFIX):
            table[r.param][r.epoch][r.stat] = r.value
    devices = sorted(table)
    n = len(devices)
    gap = 0.3 / n if n else 0.0
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "title": {"text": title},
        "height": max(300, SUBPLOT_HEIGHT * n + 100),
        "showlegend": False,
        "margin": {"l": 70, "r": 20, "t": 60, "b": 40},
        "annotations": [],
    }
    for i, device in enumerate(devices, start=1):
        epochs = sorted(table[device])
        by_epoch = [table[device][e] for e in epochs]
        x = [dt.datetime.fromtimestamp(e, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") for e in epochs]
        series = {
            "max": [s.get("max") for s in by_epoch],
            "mode+std": [_plus(s, 1) for s in by_epoch],
            "mode": [s.get("mode") for s in by_epoch],
            "mode-std": [_plus(s, -1) for s in by_epoch],
            "min": [s.get("min") for s in by_epoch],
        }
        suffix = "" if i == 1 else str(i)
        for name, colour in TRACES:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{device} {name}",
                    "x": x,
                    "y": series[name],
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                    "line": {"color": colour, "dash": "dot" if "std" in name else "solid"},
                }
            )
        top = 1 - (i - 1) / n
        bottom = 1 - i / n + gap
        layout[f"xaxis{suffix}"] = {"domain": [0, 1], "anchor": f"y{suffix}", "type": "date"}
        layout[f"yaxis{suffix}"] = {
            "domain": [bottom, top - gap / 2],
            "anchor": f"x{suffix}",
            "title": {"text": device},
        }
        layout["annotations"].append(
            {
                "text": device,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": top,
                "showarrow": False,
                "xanchor": "center",
                "yanchor": "bottom",
            }
        )
    return {"data": data, "layout": layout}


def _plus(stats: dict[str, float], sign: int) -> float | None:
    if "mode" not in stats or "std" not in stats:
        return None
    return stats["mode"] + sign * stats["std"]


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script src="plotly.min.js"></script>
<style>body {{ font-family: sans-serif; margin: 1em; }}</style>
</head>
<body>
<h1>{title}</h1>
<p id="summary">{summary}</p>
<div id="plots"></div>
<script id="figure" type="application/json">{figure}</script>
<script>
const figure = JSON.parse(document.getElementById("figure").textContent);
Plotly.newPlot("plots", figure.data, figure.layout, {{responsive: true}});
</script>
</body>
</html>
"""


def write_page(folder: Path, rows: list[StatRow], site: str) -> Path:
    """Write the page folder; returns the path of ``index.html``."""
    folder.mkdir(parents=True, exist_ok=True)
    title = f"{site}: data logger statistics"
    figure = build_figure(rows, title)
    devices = len(figure["data"]) // len(TRACES)
    windows = len({r.epoch for r in rows})
    text = json.dumps(figure, separators=(",", ":"))
    _replace(folder / "figure.json", text)
    source = plotly_js()
    target = folder / "plotly.min.js"
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        part = folder / ".plotly.min.js.part"
        shutil.copyfile(source, part)
        os.replace(part, target)
    page = PAGE.format(
        title=html.escape(title),
        summary=f"{devices} devices, {windows} windows",
        # inside <script>, only "</" could end the element early
        figure=text.replace("</", "<\\/"),
    )
    index = folder / "index.html"
    _replace(index, page)
    return index


def _replace(path: Path, text: str) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)
