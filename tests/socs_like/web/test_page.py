"""The dashboard page in real headless Chromium, against a real hub, registry and agents.

Each test saves screenshots of the pages it looked at under the test output folder
(``var/test-output/screenshots/``, see `socs_like.testing.browser`).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from socs_like.testing import wait_until

TIMEOUT = 15_000  # ms: generous, the machine is shared


def test_overview_lists_the_agents(run_agent, web, browser_page) -> None:
    run_agent("Registry", "page-registry")
    run_agent("FakeData", "page-fake-a")
    run_agent("FakeData", "page-fake-b")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    for name in ("page-registry", "page-fake-a", "page-fake-b"):
        row = page.locator(f'tr[data-agent="{name}"]')
        expect(row.locator("td.state")).to_have_text("alive", timeout=TIMEOUT)
    expect(page.locator('tr[data-agent="page-fake-a"] td').nth(1)).to_have_text("FakeData")
    page.fill("#filter", "registry")
    expect(page.locator('tr[data-agent="page-fake-a"]')).to_have_count(0)
    expect(page.locator('tr[data-agent="page-registry"]')).to_have_count(1)
    browser_page.screenshot("overview")
    assert browser_page.console_errors == []


def test_a_task_started_from_the_page_shows_its_result_without_reload(
    run_agent, web, browser_page, page_login
) -> None:
    run_agent("FakeData", "page-task")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/#/agent/page-task")
    page_login(page, "controller")
    card = page.locator('.op[data-op="delay_task"]')
    expect(card.locator(".session")).to_contain_text("Never run", timeout=TIMEOUT)
    card.locator('input[name="delay"]').fill("1.5")
    page.evaluate("window.__sameDocument = true")
    card.locator("button.start").click()
    expect(card.locator(".reply")).to_contain_text("start: OK", timeout=TIMEOUT)
    expect(card.locator(".status")).to_have_text("running", timeout=TIMEOUT)
    browser_page.screenshot("agent-running")
    expect(card.locator(".status")).to_have_text("succeeded", timeout=TIMEOUT)
    expect(card.locator(".session")).to_contain_text("requested_delay: 1.5")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    browser_page.screenshot("agent-done")
    assert browser_page.console_errors == []


def test_stop_and_a_failed_start_show_the_reply(run_agent, web, browser_page, page_login) -> None:
    run_agent("FakeData", "page-stop")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/#/agent/page-stop")
    page_login(page, "controller")
    acq = page.locator('.op[data-op="acq"]')
    acq.locator("button.start").click()
    expect(acq.locator(".status")).to_have_text("running", timeout=TIMEOUT)
    acq.locator("button.stop").click()
    expect(acq.locator(".reply")).to_contain_text("stop: OK", timeout=TIMEOUT)
    expect(acq.locator(".status")).to_have_text("succeeded", timeout=TIMEOUT)
    task = page.locator('.op[data-op="delay_task"]')
    task.locator('input[name="succeed"]').uncheck()
    task.locator('input[name="delay"]').fill("0")
    task.locator("button.start").click()
    expect(task.locator(".status")).to_have_text("failed", timeout=TIMEOUT)
    browser_page.screenshot("failed-op")


def test_a_recorded_feeds_plot_updates(run_agent, web, browser_page) -> None:
    run_agent("FakeData", "page-feed", args=["--mode", "acq", "--sample-rate", "20"])
    w = web()
    page = browser_page.page
    page.goto(w.url + "/#/agent/page-feed")
    link = page.locator('tr[data-feed="false_temperatures"] a')
    expect(link).to_be_visible(timeout=TIMEOUT)
    link.click()
    points = page.locator("#points")
    expect(points).to_have_text(re.compile(r"^\d+ points drawn"), timeout=TIMEOUT)
    first = page.evaluate("SocsWeb.stats.plotPoints")
    page.wait_for_function(f"SocsWeb.stats.plotPoints > {first} + 20", timeout=TIMEOUT)
    expect(page.locator("#plot .scatterlayer .trace, #plot .gl-container")).not_to_have_count(0)
    expect(page.locator("#feed-stats")).to_contain_text("0 lost", timeout=TIMEOUT)
    page.click("#pause")
    paused_at = page.evaluate("SocsWeb.stats.plotPoints")
    page.wait_for_timeout(1000)
    assert page.evaluate("SocsWeb.stats.plotPoints") == paused_at
    page.click("#pause")
    page.wait_for_function(f"SocsWeb.stats.plotPoints > {paused_at}", timeout=TIMEOUT)
    browser_page.screenshot("feed-plot")
    assert browser_page.console_errors == []


def test_the_agent_pages_feeds_table_stays_live(run_agent, web, browser_page) -> None:
    victim = run_agent("FakeData", "page-feeds", args=["--mode", "acq", "--sample-rate", "20"])
    w = web()
    page = browser_page.page
    page.goto(w.url + "/#/agent/page-feeds")
    cells = page.locator('tr[data-feed="false_temperatures"] td')
    expect(cells.nth(2)).to_have_text(re.compile(r"^\d+$"), timeout=TIMEOUT)
    first = cells.nth(2).inner_text()
    # the sequence number moves on without a reload
    expect(cells.nth(2)).not_to_have_text(first, timeout=TIMEOUT)
    expect(cells.nth(6)).to_have_text("<1 s ago")
    # and once the agent is gone, the last event's age grows
    victim.kill()
    expect(cells.nth(6)).to_have_text(re.compile(r"^([5-9]|\d\d+) s ago$"), timeout=TIMEOUT)
    stopped_at = cells.nth(2).inner_text()
    page.wait_for_timeout(1500)
    assert cells.nth(2).inner_text() == stopped_at
    browser_page.screenshot("feeds-aging")
    assert browser_page.console_errors == []


def test_a_dead_agents_operations_are_unknown_and_offer_no_buttons(
    run_agent, web, browser_page, page_login
) -> None:
    victim = run_agent("FakeData", "page-dead-ops")
    w = web("--expire-after", "2")
    page = browser_page.page
    page.goto(w.url + "/#/agent/page-dead-ops")
    page_login(page, "controller")
    acq = page.locator('.op[data-op="acq"]')
    acq.locator("button.start").click()
    expect(acq.locator(".status")).to_have_text("running", timeout=TIMEOUT)
    victim.kill()
    # what it was doing when it died is not known: not "running", and nothing to press
    expect(acq.locator(".status")).to_have_text("unknown", timeout=TIMEOUT)
    expect(acq.locator(".session")).to_contain_text("page-dead-ops is expired")
    expect(acq.locator(".session")).to_contain_text("last seen running")
    expect(page.locator("button.start, button.stop, button.abort")).to_have_count(0)
    browser_page.screenshot("dead-ops")
    # back (a new process of the same instance): live sessions and buttons again
    run_agent("FakeData", "page-dead-ops")
    expect(acq.locator(".session")).to_contain_text("Never run", timeout=TIMEOUT)
    expect(acq.locator("button.start")).to_have_count(1, timeout=TIMEOUT)
    assert browser_page.console_errors == []


def test_a_feed_that_does_not_exist_is_said_so_and_not_polled(run_agent, web, browser_page):
    run_agent("FakeData", "page-nofeed")
    w = web()
    wait_until(lambda: w.get("/api/agents/page-nofeed/feeds/nope")[1].get("exists") is False, 15)
    status, answer = w.get("/api/agents/page-nofeed/feeds/nope")
    assert (status, answer["error"]) == (
        404,
        "no such feed: page-nofeed has no feed 'nope' (its feeds: false_temperatures)",
    )
    page = browser_page.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/feeds/nope") else None)
    page.goto(w.url + "/#/feed/page-nofeed/nope")
    expect(page.locator("#feed-stats")).to_have_text(answer["error"], timeout=TIMEOUT)
    expect(page.locator("#plot .main-svg")).to_have_count(0)  # no empty axis
    expect(page.locator("#pause")).to_be_hidden()
    count = len(asked)
    page.wait_for_timeout(2500)  # an overview event comes every second
    assert len(asked) == count
    browser_page.screenshot("no-such-feed")


def test_a_killed_agent_turns_expired(run_agent, web, browser_page) -> None:
    run_agent("Registry", "page-exp-registry", args=["--wait-time", "2"])
    victim = run_agent("FakeData", "page-victim")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    state = page.locator('tr[data-agent="page-victim"] td.state')
    expect(state).to_have_text("alive", timeout=TIMEOUT)
    victim.kill()
    expect(state).to_have_text("expired", timeout=TIMEOUT)
    expect(state).to_have_attribute("title", "registry: no heartbeat")
    browser_page.screenshot("expired")


def test_read_only_hides_the_buttons(run_agent, web, browser_page) -> None:
    run_agent("FakeData", "page-ro")
    w = web("--read-only")
    page = browser_page.page
    page.goto(w.url + "/#/agent/page-ro")
    expect(page.locator('.op[data-op="delay_task"]')).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#mode")).to_have_text("read-only")
    expect(page.locator("button.start, button.stop, button.abort")).to_have_count(0)
    expect(page.locator("#login")).to_be_empty()  # no login offered at all
    browser_page.screenshot("read-only")


def test_a_lost_hub_is_shown_and_the_page_recovers(private_hub, run_agent, web, browser_page):
    run_agent("FakeData", "page-outage", on=private_hub)
    w = web(on=private_hub)
    page = browser_page.page
    page.goto(w.url + "/")
    expect(page.locator('tr[data-agent="page-outage"] td.state')).to_have_text(
        "alive", timeout=TIMEOUT
    )
    expect(page.locator("#hub-banner")).to_be_hidden()
    private_hub.hub.kill()
    banner = page.locator("#hub-banner")
    expect(banner).to_contain_text("Hub lost since", timeout=TIMEOUT)
    expect(page.locator('tr[data-agent="page-outage"]')).to_have_class("stale")
    browser_page.screenshot("hub-lost")
    private_hub.hub.start()
    expect(banner).to_be_hidden(timeout=30_000)
    expect(page.locator('tr[data-agent="page-outage"] td.state')).to_have_text(
        "alive", timeout=TIMEOUT
    )
    expect(page.locator('tr[data-agent="page-outage"] td.beat')).to_have_text(
        "<1 s", timeout=TIMEOUT
    )


def test_suprsync_panel_shows_its_archive(run_agent, web, browser_page, tmp_path):
    run_agent(
        "SupRsync",
        "page-suprsync",
        args=[
            "--archive-name",
            "timestreams",
            "--db-path",
            str(tmp_path / "suprsync.db"),
            "--remote-basedir",
            str(tmp_path / "archive"),
            "--suprsync-file-root",
            str(tmp_path / "suprsync"),
            "--sleep-time",
            "1",
        ],
    )
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    panel = page.locator('.panel[data-panel="SupRsync"]')
    expect(panel).to_contain_text("Archive — page-suprsync", timeout=TIMEOUT)
    expect(panel.locator("td.v-pending")).to_have_text("0", timeout=TIMEOUT)
    expect(panel.locator("td.v-files")).to_have_text("0")
    page.goto(w.url + "/#/agent/page-suprsync")
    expect(page.locator('#agent-panels .panel[data-panel="SupRsync"]')).to_be_visible(
        timeout=TIMEOUT
    )
    browser_page.screenshot("suprsync-panel")
    assert browser_page.console_errors == []


def test_a_dashboard_server_that_goes_away_is_shown(run_agent, web, browser_page) -> None:
    run_agent("FakeData", "page-server-gone")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    expect(page.locator('tr[data-agent="page-server-gone"] td.state')).to_have_text(
        "alive", timeout=TIMEOUT
    )
    expect(page.locator("#server-banner")).to_be_hidden()
    w.stop()
    expect(page.locator("#server-banner")).to_contain_text(
        "The dashboard server does not answer", timeout=TIMEOUT
    )
    browser_page.screenshot("server-gone")
