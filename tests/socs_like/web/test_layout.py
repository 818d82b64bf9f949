"""The panels' layout in real headless Chromium at 1280 px, the narrowest screen supported:
each shipped panel, drawn through its own `render` with wide content (long job names, alerts,
paths, failures), shows its key cells inside the panel box, none behind a scroll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

TIMEOUT = 15_000

# session data as the agents publish it, made wide (long names, messages and paths)
LONG = "correlator_node_cn07_lost_its_datastream_connection_while_writing_output"
DATA = {
    "DaqWorker": {
        "monitor": {
            "data": {
                "sweeps": 12,
                "timestamp": 1.7e9,
                "sweep_seconds": 0.41,
                "hosts": {
                    f"daq-worker-{i:02d}.observatory.example": {
                        "state": "ok",
                        "error": None,
                        "ecc_server_up": True,
                        "data_router_up": True,
                        "graw_files": 123456,
                    }
                    for i in range(3)
                },
                "problems": {"daq-worker-01.observatory.example": 1},
            }
        }
    },
    "DiFXRelay": {
        "relay": {
            "data": {
                "connected": True,
                "server": "127.0.0.1:50200",
                "last_error": None,
                "jobs": {
                    "experiment_2024_03_10_long_job_name_1": {
                        "state": "Running",
                        "progress": 42.0,
                        "updated": 1.7e9,
                        "last_alert": LONG,
                    }
                },
            }
        }
    },
    "SupRsync": {
        "run": {
            "data": {
                "activity": "copying",
                "archive_stats": {
                    "num_files": 123456,
                    "uncopied_files": 12,
                    "finalized_until": 1.7e9,
                    "last_file_copied": "/data/timestreams/17000/obs_1700000000_sat1_1111111.g3",
                },
                "counters": {"failed_copies": 3},
                "last_copy": {"failed": 1},
            }
        }
    },
    "RunPipeline": {
        "monitor": {"status": "running", "data": {"counts": {"raw_acquired": 1, "raw_failed": 2}}},
        **{
            name: {
                "status": "running",
                "data": {
                    "activity": "idle",
                    "passes": 120,
                    "errors": 1,
                    "last_pass": {
                        "done": 3,
                        "failed": 1,
                        "finished": 1.7e9,
                        "failures": [f"run_20240310_123456: {LONG}"],
                    },
                },
            }
            for name in ("transfer", "process", "archive")
        },
    },
}
# the cells that must be seen: the DAQ worker's state (which says its problems), DiFX's last
# alert, the pipeline's last pass and SupRsync's last copied file
KEY_CELLS = {
    "DaqWorker": 'tr[data-host="daq-worker-01.observatory.example"] td:nth-child(2)',
    "DiFXRelay": "tr[data-job] td:last-child",
    "RunPipeline": 'tr[data-pass="archive"] td:last-child',
    "SupRsync": "td.v-last",
}

DRAW = """([agentClass, sessions]) => {
  const panel = SocsWeb.panels.find((p) => p.agentClass === agentClass);
  const root = document.querySelector("#layout");
  const el = SocsWeb.h("section", { class: "panel", "data-panel": agentClass },
    SocsWeb.h("h3", { text: panel.title }), SocsWeb.h("div", { class: "body" }));
  root.append(el);
  panel.render(el.querySelector(".body"), { agent: {}, sessions, feeds: {}, h: SocsWeb.h,
    when: SocsWeb.when, dated: SocsWeb.dated });
}"""


@pytest.mark.parametrize("width", [1280, 1920])
def test_key_cells_are_inside_their_panels(web, browser_page, width) -> None:
    w = web()
    page = browser_page.page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(w.url + "/#/")
    expect(page.locator("#agents")).to_be_visible(timeout=TIMEOUT)
    page.wait_for_function("SocsWeb.panels.length >= 5", timeout=TIMEOUT)
    # the shipped panels side by side, as the overview lays them out
    page.evaluate(
        """() => document.querySelector("main").append(
          SocsWeb.h("div", { id: "layout", class: "panels" }))"""
    )
    for agent_class, sessions in DATA.items():
        page.evaluate(DRAW, [agent_class, sessions])
    browser_page.screenshot(f"layout-{width}")
    for agent_class, cell in KEY_CELLS.items():
        panel = page.locator(f'#layout .panel[data-panel="{agent_class}"]')
        box, cell_box = panel.bounding_box(), panel.locator(cell).bounding_box()
        assert box and cell_box, agent_class
        assert cell_box["x"] + cell_box["width"] <= box["x"] + box["width"], agent_class
        body = panel.locator(".body")
        assert body.evaluate("b => b.scrollWidth <= b.clientWidth"), agent_class
    state = page.locator(f"#layout {KEY_CELLS['DaqWorker']}")
    expect(state).to_have_text("ok, 1 problem")
    expect(state).to_have_class("failed")
