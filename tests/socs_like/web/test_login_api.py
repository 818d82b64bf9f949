"""Logins through the JSON API, against a real hub and real agents: the hub checks the login,
and the agent applies the logged-in user's role."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import urllib.request

import pytest
import yaml

from socs_like.hub import port_open
from socs_like.secrets import SecretsError, add_user, load_secrets, write_new_secrets
from socs_like.secrets_cli import main as secrets_main
from socs_like.testing import wait_until
from socs_like.testing.hub import start_hub
from socs_like.testing.inprocess import AgentThread
from socs_like.web.process import DashboardProcess

from ..test_hub_roles import Guarded
from ..test_security import tls_files  # noqa: F401  (a fixture: a throw-away CA, a cert)

START = "/api/agents/{}/ops/{}/start"
NOT_LOGGED_IN = "log in to start, stop or abort operations (without a login the page is read-only)"


@pytest.fixture
def guarded(hub):
    thread = AgentThread(Guarded, ["--site-file", str(hub.site_file), "--instance-id", "guarded"])
    yield "guarded"
    thread.stop()


def test_without_a_login_nothing_starts(run_agent, web) -> None:
    run_agent("FakeData", "login-none")
    w = web()
    assert w.get("/api/config")[1]["login"] is None
    status, reply = w.post(START.format("login-none", "delay_task"), {"params": {}})
    assert (status, reply) == (401, {"error": NOT_LOGGED_IN})
    # The dashboard's own session only watches: the hub gave it the observer role.
    assert w.get("/api/overview")[1]["hub"]["role"] == "observer"
    # Its start notice (shown by `socs-like up`) says where logins come from, not a secret.
    assert "log in as one of ['admin', 'controller', 'observer'], secrets in " in w.log.read_text()


def test_a_wrong_secret_or_user_is_refused_without_saying_which(web, secret_of) -> None:
    w = web()
    for user, secret in [("controller", "not-the-secret"), ("nobody", secret_of("controller"))]:
        status, answer = w.login(user, secret)
        assert (status, answer) == (401, {"error": "wrong user or secret"})
    assert len(w.cookies) == 0
    assert w.get("/api/config")[1]["login"] is None
    assert w.login("", "x")[0] == 400


def test_guessing_is_slowed_down_after_five_failures(web, secret_of) -> None:
    w = web()
    for _ in range(5):
        assert w.login("controller", "a-guess") == (401, {"error": "wrong user or secret"})
    # even the right secret now waits: the address is held up, not the guess
    status, answer = w.login("controller", secret_of("controller"))
    assert status == 429
    assert answer["error"].startswith("too many failed logins from 127.0.0.1: try again in ")
    assert 55 <= int(answer["error"].split()[-2]) <= 60


def test_a_controller_starts_ops_but_not_admin_ones(guarded, web, api_login) -> None:
    w = web()
    assert api_login(w, "controller") == {"user": "controller", "role": "controller"}
    assert w.get("/api/config")[1]["login"] == {"user": "controller", "role": "controller"}
    wait_until(lambda: w.get(f"/api/agents/{guarded}")[0] == 200, 15, message="agent listed")
    ops = {op["name"]: op for op in w.get(f"/api/agents/{guarded}")[1]["ops"]}
    assert ops["dangerous"]["info"]["role"] == "admin"  # what the page hides buttons by
    assert "role" not in ops["ordinary"]["info"]
    status, reply = w.post(START.format(guarded, "ordinary"), {})
    assert status == 200 and reply["status"] == 0, reply
    status, reply = w.post(START.format(guarded, "dangerous"), {})
    assert status == 200 and reply["status"] == -1
    assert reply["msg"] == (
        'Not allowed: "start" on "dangerous" needs the admin role; this caller is controller.'
    )
    # The same dashboard, another person (their own cookie): an admin may.
    other = DashboardProcess(w.process, w.url, w.log)
    assert api_login(other, "admin") == {"user": "admin", "role": "admin"}
    status, reply = other.post(START.format(guarded, "dangerous"), {})
    assert status == 200 and reply["status"] == 0, reply


def test_an_observer_gets_the_agents_refusal(run_agent, web, api_login) -> None:
    run_agent("FakeData", "login-observer")
    w = web()
    assert api_login(w, "observer") == {"user": "observer", "role": "observer"}
    status, reply = w.post(START.format("login-observer", "delay_task"), {"params": {}})
    assert status == 200 and reply["status"] == -1
    assert reply["msg"] == (
        'Not allowed: "start" on "delay_task" needs the controller role; this caller is '
        "observer (observers may only call get_api, status and wait)."
    )


def test_logout_ends_the_login(run_agent, web, api_login) -> None:
    run_agent("FakeData", "login-out")
    w = web()
    api_login(w, "controller")
    status, reply = w.post(START.format("login-out", "delay_task"), {"params": {"delay": 0}})
    assert status == 200 and reply["status"] == 0
    first = next(iter(w.cookies)).value
    api_login(w, "controller")  # logging in again replaces the browser's login
    token = next(iter(w.cookies)).value
    # The replaced login is gone: logging it out (past this client's cookie jar) finds nobody.
    stale = urllib.request.Request(
        w.url + "/api/logout", b"", {"Cookie": f"socs_login={first}"}, method="POST"
    )
    with urllib.request.urlopen(stale, timeout=10) as answer:
        assert json.load(answer) == {"login": None}
    assert "controller logged out" not in w.log.read_text()
    assert w.post("/api/logout") == (200, {"login": None})
    assert w.get("/api/config")[1]["login"] is None
    assert w.post(START.format("login-out", "delay_task"), {}) == (401, {"error": NOT_LOGGED_IN})
    # The old token is dead at the server, not only forgotten by this client.
    replay = w.request(
        "POST", START.format("login-out", "delay_task"), {}, {"Cookie": f"socs_login={token}"}
    )
    assert replay == (401, {"error": NOT_LOGGED_IN})


def test_an_idle_login_expires(run_agent, web, api_login) -> None:
    run_agent("FakeData", "login-idle")
    w = web("--login-idle", "1")
    api_login(w, "controller")
    wait_until(lambda: "login of controller (controller) expired" in w.log.read_text(), 30)
    assert w.post(START.format("login-idle", "delay_task"), {}) == (401, {"error": NOT_LOGGED_IN})


def test_a_post_from_another_site_is_refused(run_agent, web, api_login, secret_of) -> None:
    run_agent("FakeData", "login-csrf")
    w = web()
    api_login(w, "controller")
    evil = {"Origin": "http://evil.example"}
    status, reply = w.post(START.format("login-csrf", "delay_task"), {}, **evil)
    assert (status, reply) == (
        403,
        {
            "error": "refused: this request comes from another site (http://evil.example), "
            "not from this page"
        },
    )
    assert (
        w.post("/api/login", {"user": "controller", "secret": secret_of("controller")}, **evil)[0]
        == 403
    )
    assert w.post("/api/logout", None, **evil)[0] == 403
    own = {"Origin": w.url}
    status, reply = w.post(
        START.format("login-csrf", "delay_task"), {"params": {"delay": 0}}, **own
    )
    assert status == 200 and reply["status"] == 0


def test_a_post_from_this_host_over_another_scheme_is_refused(web) -> None:
    w = web()  # served over http: an https page of the same host and port is another origin
    https_twin = {"Origin": w.url.replace("http://", "https://")}
    status, reply = w.post("/api/logout", None, **https_twin)
    assert (status, reply["error"]) == (
        403,
        f"refused: this request comes from another site ({https_twin['Origin']}), "
        "not from this page",
    )
    assert w.post("/api/logout", None, Origin=w.url)[0] == 200


def test_only_loopback_and_the_allowed_names_are_answered(web) -> None:
    """A DNS-rebinding page (its own name, resolved to 127.0.0.1) sends its name as Host:
    nothing is answered to it, not even the page or the overview."""
    w = web("--allow-host", "dash.example")
    port = w.url.rsplit(":", 1)[1]
    for path in ("/", "/api/overview", "/api/config"):
        status, reply = w.request("GET", path, headers={"Host": f"evil.example:{port}"})
        assert (status, reply) == (
            421,
            {
                "error": "refused: this dashboard answers to loopback and dash.example, not "
                f"to Host 'evil.example:{port}' (add a name with --allow-host)"
            },
        )
    assert w.post("/api/logout", None, Host="evil.example")[0] == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"dash.example:{port}"):
        status, overview = w.request("GET", "/api/overview", headers={"Host": host})
        assert status == 200 and overview["hub"]["connected"] is True


def test_read_only_offers_no_login(web, secret_of) -> None:
    w = web("--read-only")
    status, answer = w.login("controller", secret_of("controller"))
    assert (status, answer) == (403, {"error": "this dashboard is read-only: it offers no login"})
    assert len(w.cookies) == 0


def test_no_secret_in_the_log_or_any_answer(run_agent, web, api_login, hub, secret_of) -> None:
    run_agent("FakeData", "login-leak")
    w = web()
    answers = [
        w.login("controller", "a-wrong-secret-to-find"),
        w.login("nobody", secret_of("admin")),
    ]
    api_login(w, "controller")
    api_login(w, "observer")
    answers += [
        w.get("/api/config"),
        w.get("/api/overview"),
        w.get("/api/agents/login-leak"),
        w.post(START.format("login-leak", "delay_task"), {"params": {"delay": 0}}),
        w.post("/api/logout"),
    ]
    with urllib.request.urlopen(w.url + "/api/events", timeout=10) as stream:
        snapshot = stream.readline() + stream.readline()
    text = json.dumps(answers) + snapshot.decode() + w.log.read_text()
    secrets = load_secrets(hub.secrets_file)
    found = [u.secret for u in secrets.users.values()] + ["a-wrong-secret-to-find"]
    assert snapshot.startswith(b"event: snapshot")
    assert "logged in" in w.log.read_text()  # the log is there to be read
    assert [s for s in found if s in text] == []


def test_over_tls_the_cookie_is_secure(hub, tmp_path, secret_of, tls_files) -> None:  # noqa: F811
    w = DashboardProcess.start(
        hub.site_file,
        tmp_path / "web.log",
        "--tls-cert",
        str(tls_files["cert"]),
        "--tls-key",
        str(tls_files["key"]),
        ca_file=str(tls_files["ca"]),
        fork=True,
    )
    try:
        assert w.url.startswith("https://")
        assert w.login("controller", secret_of("controller"))[0] == 200
        (cookie,) = w.cookies
        assert cookie.name == "socs_login" and cookie.secure
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert cookie.get_nonstandard_attr("SameSite") == "Strict"
        assert w.get("/api/config")[1]["login"] == {"user": "controller", "role": "controller"}
    finally:
        w.stop()


def test_secrets_add_user_reads_the_secret_from_stdin(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "secrets.yaml"
    write_new_secrets(path)
    before = load_secrets(path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("plum orbit candle ferry\n"))
    assert secrets_main(["add-user", "--path", str(path), "alice", "--role", "controller"]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"added controller alice to {path}; restart the hub for it to take effect "
        "(the hub reads the file when it starts)\n"
    )
    after = load_secrets(path)
    assert after.users["alice"].role == "controller"
    assert after.users["alice"].secret == "plum orbit candle ferry"
    assert len(after.users["alice"].salt) == 16
    assert {k: v for k, v in after.users.items() if k != "alice"} == before.users
    assert after.agent_key == before.agent_key and after.client_user == before.client_user
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith("# socs_like secrets")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secrets.yaml"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("another\n"))
    assert secrets_main(["add-user", "--path", str(path), "alice", "--role", "admin"]) == 2
    assert "has a user 'alice' already" in capsys.readouterr().err
    for taken in ("agent:fd1", "host:daq"):  # agents' and hosts' logins are derived
        with pytest.raises(SecretsError, match="cannot be a user name"):
            add_user(path, taken, "admin", "x")
    assert yaml.safe_load(path.read_text())["users"]["alice"]["role"] == "controller"


@pytest.mark.slow
def test_a_new_user_logs_in_after_a_hub_restart(tmp_path, monkeypatch) -> None:
    """`socs-like secrets add-user`, as a person would run it; the hub reads the secrets file
    when it starts (crossbar keeps the authenticator it made for the first session)."""
    secrets_file = tmp_path / "secrets.yaml"
    write_new_secrets(secrets_file)
    monkeypatch.setenv("SOCS_LIKE_SECRETS", str(secrets_file))
    info = start_hub(tmp_path / "hub")
    w = DashboardProcess.start(info.site_file, tmp_path / "web.log", fork=True)
    try:
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "socs_like",
                "secrets",
                "add-user",
                "--path",
                str(secrets_file),
                "alice",
                "--role",
                "controller",
            ],
            input="violet harbour spoon glider\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        assert "violet harbour spoon glider" not in added.stdout + added.stderr
        assert w.login("alice", "violet harbour spoon glider") == (
            401,
            {"error": "wrong user or secret"},
        )
        info.hub.stop()
        wait_until(lambda: not port_open(info.hub.host, info.hub.port), 30)
        info.hub.start()
        wait_until(w.connected, 30, message="the dashboard back on the hub")
        assert w.login("alice", "violet harbour spoon glider") == (
            200,
            {"login": {"user": "alice", "role": "controller"}},
        )
    finally:
        w.stop()
        info.hub.stop()
