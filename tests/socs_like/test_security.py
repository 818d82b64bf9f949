"""Secrets handling, TLS, the signed HTTP bridge, and no secret in any log, get_api or feed."""

import datetime
import io
import ipaddress
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from socs_like.client import AsyncClient, ClientError, run_sync
from socs_like.secrets import (
    SecretsError,
    derive_agent_secret,
    load_secrets,
    write_new_secrets,
)
from socs_like.secrets_cli import main as secrets_main
from socs_like.signed_bridge import sign_http_query
from socs_like.testing import wait_until
from socs_like.testing.hub import FeedListener, start_hub


def test_secrets_init_writes_an_owner_only_file(tmp_path):
    path = tmp_path / "secrets.yaml"
    assert secrets_main(["init", "--path", str(path)]) == 0
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    found = load_secrets(path)
    assert set(found.users) == {"observer", "controller", "admin"}
    assert found.client_credentials().authid == "controller"
    assert "secret" not in repr(found.client_credentials())  # never printed by accident
    assert secrets_main(["init", "--path", str(path)]) == 2  # never overwritten
    assert secrets_main(["init", "--path", str(path), "--if-missing"]) == 0


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_readable_secrets_file_is_refused_with_the_fix(tmp_path, mode):
    path = tmp_path / "secrets.yaml"
    write_new_secrets(path)
    path.chmod(mode)
    with pytest.raises(SecretsError) as refused:
        load_secrets(path)
    assert str(refused.value) == (
        f"secrets file {path} is readable by others (mode {mode:o}): run chmod 600 {path}"
    )


def test_an_agent_refuses_a_readable_secrets_file_in_one_line(hub, tmp_path):
    path = tmp_path / "loose.yaml"
    write_new_secrets(path)
    path.chmod(0o644)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "socs_like",
            "agent",
            "FakeData",
            "--instance-id",
            "fd-loose",
            "--site-file",
            str(hub.site_file),
        ],
        env=os.environ | {"SOCS_LIKE_SECRETS": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"socs-like agent: secrets file {path} is readable by others (mode 644): "
        f"run chmod 600 {path}"
    ]


def test_agent_secrets_differ_per_instance():
    assert derive_agent_secret("k", "a") != derive_agent_secret("k", "b")
    assert derive_agent_secret("k", "a") != derive_agent_secret("k2", "a")


# --- TLS with a throw-away CA -----------------------------------------------------------------


def _ca(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = _ca("socs_like test CA")
    _, other_cert = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = {
        "ca": folder / "ca.pem",
        "other_ca": folder / "other-ca.pem",
        "cert": folder / "hub.pem",
        "key": folder / "hub.key",
    }
    files["ca"].write_bytes(_pem(ca_cert))
    files["other_ca"].write_bytes(_pem(other_cert))
    files["cert"].write_bytes(_pem(cert))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files["key"].chmod(0o600)
    return files


def test_tls_verified_and_a_wrong_ca_refused(tmp_path, tls_files, run_agent):
    info = start_hub(
        tmp_path / "tls-hub",
        tls={"certificate": str(tls_files["cert"]), "key": str(tls_files["key"])},
        ca_file=str(tls_files["ca"]),
    )
    try:
        assert info.url.startswith("wss://")
        run_agent("FakeData", "fd-tls", on=info)  # the agent verifies with the site's CA file
        good = AsyncClient("fd-tls", hub_url=info.url, timeout=5, ca_file=str(tls_files["ca"]))
        assert "tasks" in run_sync(good.get_api(), 15)
        run_sync(good.close(), 5)
        # the Registry pauses its reading between reads (`read_hub_every`): over TLS too
        run_agent("Registry", "reg-tls", on=info)
        registry = AsyncClient("reg-tls", hub_url=info.url, timeout=5, ca_file=str(tls_files["ca"]))

        def fd_alive() -> bool:
            data = run_sync(registry.request("status", "main"), 15).session.get("data") or {}
            entry = data.get("observatory.fd-tls")
            return isinstance(entry, dict) and entry["expired"] is False

        assert wait_until(fd_alive, 15)
        run_sync(registry.close(), 5)
        wrong = AsyncClient(
            "fd-tls", hub_url=info.url, timeout=5, ca_file=str(tls_files["other_ca"])
        )
        with pytest.raises(ClientError, match="CERTIFICATE_VERIFY_FAILED"):
            run_sync(wrong.get_api(), 15)
        # Plain WebSocket on the TLS port gets nowhere either.
        plain = AsyncClient("fd-tls", hub_url=info.url.replace("wss:", "ws:"), timeout=3)
        with pytest.raises(ClientError):
            run_sync(plain.get_api(), 10)
    finally:
        info.hub.stop()


def test_an_agent_that_cannot_join_says_why_once_per_cause(tmp_path, tls_files, run_agent):
    """Not verbose, given a CA the hub's certificate does not chain to: one warning with the
    cause; one more when the cause changes (the hub gone, then back), never one per retry."""
    info = start_hub(
        tmp_path / "tls-hub",
        tls={"certificate": str(tls_files["cert"]), "key": str(tls_files["key"])},
        ca_file=str(tls_files["ca"]),
    )
    try:
        proc = run_agent(
            "FakeData",
            "fd-wrong-ca",
            on=info,
            env={"SOCS_LIKE_CA_FILE": str(tls_files["other_ca"])},
            wait=False,
        )

        def warnings():
            return [line for line in proc.output().splitlines() if " WARNING " in line]

        cannot = f"WARNING socs_like.runtime.hub_session: cannot join the hub at {info.url}: "
        wait_until(lambda: len(warnings()) >= 1, 60, message="a warning")
        info.hub.stop()  # another cause: it is still trying, and says so once
        wait_until(lambda: len(warnings()) >= 2, 60, message="a second warning")
        info.hub.start(log_file=info.log_file)
        wait_until(lambda: len(warnings()) >= 3, 60, message="a third warning")
        time.sleep(3)  # more retries (every second at most): none says it again
        said = warnings()
        assert len(said) == 3, said
        assert all(cannot in line for line in said), said
        assert "CERTIFICATE_VERIFY_FAILED" in said[0] and "CERTIFICATE_VERIFY_FAILED" in said[2]
        assert "Connect call failed" in said[1]
        assert said[0].endswith("; trying again until it works")
    finally:
        info.hub.stop()


def test_one_ca_rule_for_all_flag_then_environment_then_site_config(tmp_path, tls_files, run_agent):
    info = start_hub(
        tmp_path / "ca-hub",
        tls={"certificate": str(tls_files["cert"]), "key": str(tls_files["key"])},
        ca_file=str(tls_files["ca"]),  # the site config's: right
    )
    wrong = {"SOCS_LIKE_CA_FILE": str(tls_files["other_ca"])}
    right = ["--ca-file", str(tls_files["ca"])]
    try:
        run_agent("FakeData", "fd-ca", on=info)

        def call(*flags, env=None):
            argv = [sys.executable, "-m", "socs_like", "call", "--site-config", str(info.site_file)]
            return subprocess.run(
                [*argv, *flags, "fd-ca", "delay_task", "status"],
                env=os.environ | (env or {}),
                capture_output=True,
                text=True,
                timeout=60,
            )

        assert call().returncode == 0  # the site config's CA
        refused = call(env=wrong)  # the environment comes before the site config...
        assert refused.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
        assert call(*right, env=wrong).returncode == 0  # ...and the flag before both
        # An agent follows the same rule.
        stuck = run_agent("FakeData", "fd-ca-env", on=info, env=wrong, wait=False)
        run_agent("FakeData", "fd-ca-flag", on=info, env=wrong, args=right)
        wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in stuck.output(), 60, message="refused")
    finally:
        info.hub.stop()


# --- the HTTP bridge ---------------------------------------------------------------------------


def _post(url, body, query=None):
    if query:
        url = f"{url}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _ops_body(instance_id: str, action: str) -> bytes:
    """A bridge call's body: `action` on the agent's ``delay_task``."""
    procedure = f"observatory.{instance_id}.ops"
    return json.dumps({"procedure": procedure, "args": [action, "delay_task"]}).encode()


def test_the_signed_bridge_refuses_unsigned_requests(legacy_hub, run_agent):
    info = legacy_hub  # its bridge takes signed requests only
    run_agent("FakeData", "fd-signed", on=info)
    body = _ops_body("fd-signed", "status")
    assert _post(info.http_url, body)[0] in (400, 401)
    secrets = load_secrets(info.secrets_file)
    forged = sign_http_query(secrets.http_key, "not the secret", body, 1)
    assert _post(info.http_url, body, forged)[0] == 401
    signed = sign_http_query(secrets.http_key, secrets.http_secret, body, 2)
    status, answer = _post(info.http_url, body, signed)
    assert status == 200 and answer["args"][0][:2] == [0, "No session active."]


def _status(url, body, query):
    """The HTTP status and the error of a signed call."""
    url = f"{url}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer).get("error")
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc).get("error")


def test_the_signed_bridge_refuses_a_replayed_or_stale_request(legacy_hub, run_agent):
    info = legacy_hub  # its bridge takes signed requests only
    run_agent("FakeData", "fd-replay", on=info)
    body = _ops_body("fd-replay", "start")
    secrets = load_secrets(info.secrets_file)
    signed = sign_http_query(secrets.http_key, secrets.http_secret, body, 1)
    assert _status(info.http_url, body, signed) == (200, None)
    # The same request again, as someone who saw it pass would send it: refused.
    assert _status(info.http_url, body, signed) == (
        401,
        "refused: this signed request was sent before (a replay)",
    )
    # One signed a minute ago (outside the window, so its nonce is no longer kept): refused.
    stale = sign_http_query(secrets.http_key, secrets.http_secret, body, 2, time.time() - 60)
    assert _status(info.http_url, body, stale) == (
        401,
        "refused: the request's timestamp is more than 30 s from the hub's clock",
    )
    fresh = sign_http_query(secrets.http_key, secrets.http_secret, body, 3)
    assert _status(info.http_url, body, fresh)[0] == 200
    # crossbar no longer needs the bridge's secret in its config file
    config = (info.hub.cbdir / "config.json").read_text()
    assert secrets.http_secret not in config


def test_the_cli_signs_its_calls_to_a_signed_bridge(legacy_hub, run_agent):
    info = legacy_hub  # its bridge takes signed requests only
    run_agent("FakeData", "fd-signed-cli", on=info)
    call = [sys.executable, "-m", "socs_like", "call", "--site-config", str(info.site_file)]
    done = subprocess.run(
        [*call, "--http", "fd-signed-cli", "delay_task", "delay=0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "delay_task[session 1] done succeeded" in done.stdout, done.stdout


@pytest.mark.slow
def test_the_bridge_can_be_off(tmp_path):
    info = start_hub(tmp_path / "nobridge-hub", http_bridge="off")
    try:
        assert _post(info.http_url, b"{}")[0] == 404
    finally:
        info.hub.stop()


# --- no secret anywhere ------------------------------------------------------------------------


def test_no_secret_in_any_log_get_api_or_feed(hub, run_agent, tmp_path):
    proc = run_agent("FakeData", "fd-secretless", args=["--verbose"])
    client = AsyncClient("fd-secretless", hub_url=hub.url, timeout=5)
    listener = FeedListener()
    run_sync(client.subscribe("false_temperatures", listener), 10)
    sessions = FeedListener()
    run_sync(client.subscribe("sessions", sessions), 10)
    assert run_sync(client.request("start", "acq"), 10).ok
    listener.wait_for(lambda ev: len(ev) >= 2, 20)
    run_sync(client.request("stop", "acq"), 10)
    run_sync(client.request("wait", "acq", timeout=10), 20)
    api = run_sync(client.get_api(), 10)
    # A failed login too, so the hub logs its refusal.
    wrong = AsyncClient("fd-secretless", hub_url=hub.url, timeout=5, anonymous=True)
    with pytest.raises(ClientError):
        run_sync(wrong.get_api(), 10)
    run_sync(client.close(), 5)
    proc.stop()

    secrets = load_secrets(hub.secrets_file)
    values = [secrets.agent_key, secrets.http_secret, secrets.agent_secret("fd-secretless")]
    values += [u.secret for u in secrets.users.values()]
    produced = {
        "get_api": json.dumps(api),
        "feed": json.dumps(listener.events) + json.dumps(sessions.events),
        "agent log": proc.output(),
        "hub log": hub.log_file.read_text(errors="replace"),
    }
    logs = [p for p in tmp_path.parent.rglob("*.log") if p.is_file()]
    assert logs, "found no logs to search"
    for path in logs:
        produced[str(path)] = path.read_text(errors="replace")
    for where, text in produced.items():
        for value in values:
            assert value and value not in text, f"a secret appears in {where}"


def test_the_site_config_takes_only_slow_password_hashes():
    from socs_like.site_config import SiteConfigError, parse_site_config

    with pytest.raises(SiteConfigError) as refused:
        parse_site_config("hub:\n  passwords:\n    - {level: admin, hash: hunter2}\n", "s.yaml")
    assert str(refused.value) == (
        "s.yaml:3: hub.passwords.0.hash: Value error, give an argon2 hash "
        "(socs-like secrets hash-password), never the password"
    )
    assert "hunter2" not in str(refused.value)


def test_derived_agent_secrets_let_a_host_do_without_the_agent_key(tmp_path, capsys):
    import yaml

    path = tmp_path / "secrets.yaml"
    write_new_secrets(path)
    assert secrets_main(["derive", "--path", str(path), "fd1"]) == 0
    block = yaml.safe_load(capsys.readouterr().out)
    host_only = tmp_path / "host.yaml"
    host_only.write_text(yaml.safe_dump(block))
    host_only.chmod(0o600)
    found = load_secrets(host_only)
    assert found.agent_secret("fd1") == load_secrets(path).agent_secret("fd1")
    with pytest.raises(SecretsError, match="neither agent-key nor a secret for agent 'fd2'"):
        found.agent_secret("fd2")


# --- a host's own secrets (`secrets for-host`) ----------------------------------------------------


def _two_host_site(hub, folder, **hub_settings):
    import yaml

    site = folder / "site-config.yaml"
    hub_block = yaml.safe_load(hub.site_file.read_text())["hub"] | hub_settings
    fd = {"agent-class": "FakeData", "instance-id": "fd-own", "arguments": []}
    reg = {"agent-class": "Registry", "instance-id": "reg-hub", "arguments": []}
    hosts = {"hub": {"crossbar": {}, "agent-instances": [reg]}, "daq": {"agent-instances": [fd]}}
    site.write_text(yaml.safe_dump({"hub": hub_block, "hosts": hosts}))
    return site


def test_a_hosts_own_secrets_log_in_its_agents_and_its_clients(hub, run_agent, tmp_path, capsys):
    from socs_like.client import HubRefused
    from socs_like.secrets import Credentials

    site = _two_host_site(hub, tmp_path)
    out = tmp_path / "secrets-daq.yaml"
    argv = ["for-host", "daq", "--site-config", str(site), "--output", str(out)]
    assert secrets_main(argv) == 0
    assert "copy it to host daq as secrets.yaml" in capsys.readouterr().out
    assert out.stat().st_mode & 0o777 == 0o600
    own, site_secrets = load_secrets(out), load_secrets(hub.secrets_file)
    assert own.agent_key is None and own.http_key is None
    assert own.agents == {i: site_secrets.agent_secret(i) for i in ("hm-daq", "fd-own")}
    assert list(own.users) == ["host:daq"] and own.client_user == "host:daq"
    # the host's login: a controller at the hub, which knows it from the agent key alone
    login = own.client_credentials()
    host = AsyncClient("fd-own", hub_url=hub.url, timeout=5, credentials=login)
    assert run_sync(host.connect(), 15) == "controller"
    run_sync(host.close(), 5)
    forged = AsyncClient(
        "fd-own", hub_url=hub.url, timeout=5, credentials=Credentials("host:daq", "guess")
    )
    with pytest.raises(HubRefused):
        run_sync(forged.connect(), 15)
    for authid in ("host:hub", "agent:host daq"):  # not another host's, nor an agent's
        other = AsyncClient(
            "fd-own", hub_url=hub.url, timeout=5, credentials=Credentials(authid, login.secret)
        )
        with pytest.raises(HubRefused):
            run_sync(other.connect(), 15)
    # its agent logs in with the host's file alone, and the host's client drives it
    run_agent("FakeData", "fd-own", env={"SOCS_LIKE_SECRETS": str(out)})
    driver = AsyncClient("fd-own", hub_url=hub.url, timeout=5, credentials=login)
    assert run_sync(driver.run_task("delay_task", {"delay": 0}), 20).session["success"] is True
    run_sync(driver.close(), 5)


def test_for_host_refuses_an_unknown_host_and_the_sites_own_file(hub, tmp_path, capsys):
    site = _two_host_site(hub, tmp_path, http_bridge="signed")
    assert secrets_main(["for-host", "lab", "--site-config", str(site)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "socs-like secrets: no host 'lab' in the site config; it lists ['daq', 'hub']: "
        "run with --site-host NAME (or set SITE_HOST)\n"
    )
    argv = ["for-host", "daq", "--site-config", str(site), "--output", str(hub.secrets_file)]
    assert secrets_main(argv) == 2
    assert "is the site's own secrets file" in capsys.readouterr().err
    # a signed bridge: the host gets the bridge's key, to call it from there
    out = tmp_path / "signed.yaml"
    assert secrets_main(["for-host", "daq", "--site-config", str(site), "--output", str(out)]) == 0
    assert load_secrets(out).http_key == load_secrets(hub.secrets_file).http_key


# --- secrets people choose ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weak", "why"),
    [
        ("summer2024", "is shorter than 16 characters"),
        ("summer2024summer2024", "repeats itself"),
        ("1111222211112222x", "has fewer than 8 different characters"),
        ("Alice-observatory-2024", "contains the user name"),
    ],
)
def test_add_user_refuses_a_weak_secret(tmp_path, monkeypatch, capsys, weak, why):
    path = tmp_path / "secrets.yaml"
    write_new_secrets(path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(weak + "\n"))
    assert secrets_main(["add-user", "--path", str(path), "alice", "--role", "admin"]) == 2
    assert capsys.readouterr().err == (
        f"socs-like secrets: the secret {why}: use four or more random words, or "
        "--generate for a random secret\n"
    )
    assert "alice" not in load_secrets(path).users


def test_add_user_can_make_the_secret_and_show_it_once(tmp_path, capsys):
    path = tmp_path / "secrets.yaml"
    write_new_secrets(path)
    assert (
        secrets_main(["add-user", "--path", str(path), "bob", "--role", "observer", "--generate"])
        == 0
    )
    secret = load_secrets(path).users["bob"].secret
    assert len(secret) >= 32
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"added observer bob to {path}; restart the hub for it to take effect "
        "(the hub reads the file when it starts)",
        f"bob's secret (shown this once; give it to bob): {secret}",
    ]
