"""Logging in from the page, in real headless Chromium against a real hub and real agents."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import TIMEOUT

BUTTONS = "button.start, button.stop, button.abort"


def test_without_a_login_the_page_only_shows(run_agent, web, browser_page) -> None:
    run_agent("FakeData", "lp-none")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/#/agent/lp-none")
    expect(page.locator('.op[data-op="delay_task"] .session')).to_contain_text(
        "Never run", timeout=TIMEOUT
    )
    expect(page.locator("#login-button")).to_have_text("log in")
    expect(page.locator(BUTTONS)).to_have_count(0)
    expect(page.locator("form.start")).to_have_count(0)
    browser_page.screenshot("not-logged-in")
    assert browser_page.console_errors == []


def test_a_wrong_secret_is_shown_in_place_and_sets_no_cookie(web, browser_page) -> None:
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    page.fill("#login-user", "controller")
    page.fill("#login-secret", "not-the-secret")
    page.click("#login-button")
    expect(page.locator("#login-error")).to_have_text("wrong user or secret", timeout=TIMEOUT)
    expect(page.locator("#login-button")).to_have_text("log in")  # not "logging in…" for ever
    assert page.context.cookies() == []
    browser_page.screenshot("wrong-secret")


def test_a_controller_logs_in_and_runs_a_task(run_agent, web, browser_page, page_login) -> None:
    run_agent("FakeData", "lp-ctl")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/#/agent/lp-ctl")
    card = page.locator('.op[data-op="delay_task"]')
    expect(card.locator(".session")).to_contain_text("Never run", timeout=TIMEOUT)
    expect(card.locator("button.start")).to_have_count(0)
    page.evaluate("window.__sameDocument = true")
    page_login(page, "controller")
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    # the card is drawn again with its controls once logged in: type into that one (typed
    # before, the 0.5 was lost with the old form and the task ran its default 5 s)
    expect(card.locator("button.start")).to_be_visible(timeout=TIMEOUT)
    card.locator('input[name="delay"]').fill("0.5")
    card.locator("button.start").click()
    expect(card.locator(".reply")).to_contain_text("start: OK", timeout=TIMEOUT)
    expect(card.locator(".status")).to_have_text("succeeded", timeout=TIMEOUT)
    expect(card.locator(".session")).to_contain_text("requested_delay: 0.5")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    browser_page.screenshot("controller")
    # Log out: the buttons go, and the API refuses this browser again.
    page.click("#logout")
    expect(page.locator("#login-button")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(BUTTONS)).to_have_count(0, timeout=TIMEOUT)
    assert browser_page.console_errors == []
    answer = page.evaluate(
        """fetch('/api/agents/lp-ctl/ops/delay_task/start', {method: 'POST', body: '{}',
             headers: {'Content-Type': 'application/json'}}).then(r => r.status)"""
    )
    assert answer == 401


def test_what_was_typed_and_replied_outlives_the_cards_being_drawn_again(
    run_agent, web, browser_page, page_login
) -> None:
    # The cards are drawn again on a login, on an agent coming back and on a late answer; an
    # operator's typing must not silently turn into the default (it did: a 1.5 s task ran 5 s).
    run_agent("FakeData", "lp-typed")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/#/agent/lp-typed")
    page_login(page, "controller")
    card = page.locator('.op[data-op="delay_task"]')
    card.locator('input[name="delay"]').fill("0.2")
    card.locator("button.start").click()
    expect(card.locator(".status")).to_have_text("succeeded", timeout=TIMEOUT)
    expect(card.locator(".reply")).to_contain_text("start: OK")
    card.locator('input[name="delay"]').fill("0.7")
    card.locator('input[name="succeed"]').uncheck()
    page.click("#logout")
    expect(page.locator("button.start")).to_have_count(0, timeout=TIMEOUT)
    expect(card.locator(".reply")).to_contain_text("start: OK")
    page_login(page, "controller")
    expect(card.locator('input[name="delay"]')).to_have_value("0.7", timeout=TIMEOUT)
    expect(card.locator('input[name="succeed"]')).not_to_be_checked()
    expect(card.locator(".reply")).to_contain_text("start: OK")
    card.locator("button.start").click()
    expect(card.locator(".status")).to_have_text("failed", timeout=TIMEOUT)
    expect(card.locator(".session")).to_contain_text("requested_delay: 0.7")
    browser_page.screenshot("typed-kept")
    assert browser_page.console_errors == []


def test_an_observer_gets_no_buttons(run_agent, web, browser_page, page_login) -> None:
    run_agent("FakeData", "lp-obs")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/#/agent/lp-obs")
    expect(page.locator('.op[data-op="acq"]')).to_be_visible(timeout=TIMEOUT)
    page_login(page, "observer")
    page.reload()  # the login outlives a reload (the cookie), and still shows no button
    expect(page.locator("#whoami")).to_have_text("observer (observer)", timeout=TIMEOUT)
    expect(page.locator('.op[data-op="acq"]')).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(BUTTONS)).to_have_count(0)
    browser_page.screenshot("observer")


def test_an_admin_op_shows_its_buttons_to_admins_only(hub, web, browser_page, page_login) -> None:
    from socs_like.testing.inprocess import AgentThread

    from ..test_hub_roles import Guarded

    thread = AgentThread(Guarded, ["--site-file", str(hub.site_file), "--instance-id", "lp-adm"])
    try:
        w = web()
        page = browser_page.page
        page.goto(w.url + "/#/agent/lp-adm")
        expect(page.locator('.op[data-op="dangerous"]')).to_be_visible(timeout=TIMEOUT)
        page_login(page, "controller")
        expect(page.locator('.op[data-op="ordinary"] button.start')).to_be_visible(timeout=TIMEOUT)
        expect(page.locator('.op[data-op="dangerous"] button.start')).to_have_count(0)
        page.click("#logout")
        expect(page.locator("#login-button")).to_be_visible(timeout=TIMEOUT)
        page_login(page, "admin")
        expect(page.locator('.op[data-op="dangerous"] button.start')).to_be_visible(timeout=TIMEOUT)
        browser_page.screenshot("admin")
    finally:
        thread.stop()
