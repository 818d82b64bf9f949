"""`socs-like compose`: the committed docker-compose.yml is its output, it matches the site
config, and each service gets its own secrets (test_compose_up.py brings the file up)."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from socs_like.compose import compose, logging_in, write_service_secrets
from socs_like.compose import main as compose_main
from socs_like.secrets import load_secrets, write_new_secrets
from socs_like.site_config import load_site_config

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_compose_file_is_up_to_date():
    generated = compose(load_site_config(REPO / "site-config.yaml"))
    assert (REPO / "docker-compose.yml").read_text() == generated
    check = subprocess.run(
        [sys.executable, "-m", "socs_like", "compose", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_compose_check_notices_a_stale_file(tmp_path):
    (tmp_path / "site-config.yaml").write_text((REPO / "site-config.yaml").read_text())
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    check = subprocess.run(
        [sys.executable, "-m", "socs_like", "compose", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1
    assert "docker-compose.yml is out of date: run socs-like compose" in check.stderr


def test_the_compose_file_matches_the_site_config():
    site = load_site_config(REPO / "site-config.yaml")
    compose_file = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose_file["services"]
    host = site.hosts["localhost"]
    assert list(services) == [
        "hub",
        *(i.instance_id for i in host.agent_instances if i.manage != "no"),
        *(f"sim-{s.name}" for s in host.simulators),
        "web",
    ]
    assert host.web is not None
    # The dashboard listens on the hub container's every interface and is published where
    # its --bind says (loopback by default), with the observer's login of its own.
    assert services["web"]["command"] == [
        "web",
        "--site-config",
        "/config/default.yaml",
        *host.web.argv,
        "--container",
    ]
    assert services["web"]["secrets"] == ["web"]
    for inst in host.agent_instances:
        svc = services[inst.instance_id]
        assert svc["command"] == ["agent"]
        assert svc["environment"] == {
            "INSTANCE_ID": inst.instance_id,
            "SITE_HUB": site.hub.wamp_server,
            "SITE_HTTP": site.hub.http_url,
            "SITE_HOST": "localhost",
            "SOCS_LIKE_SECRETS": f"/run/secrets/{inst.instance_id}",
        }
        assert svc["secrets"] == [inst.instance_id]
        assert compose_file["secrets"][inst.instance_id] == {
            "file": f"./compose-secrets/{inst.instance_id}.yaml"
        }
        assert svc["healthcheck"]["test"] == ["CMD", "socs-like", "status", inst.instance_id]
        assert (
            svc["restart"]
            == {"always": "unless-stopped", "on-failure": "on-failure", "never": "no"}[inst.restart]
        )
        assert "./var:/app/var" in svc["volumes"]
        assert svc["network_mode"] == "service:hub"
    for sim in host.simulators:
        assert services[f"sim-{sim.name}"]["command"] == ["simulate", sim.name, *sim.argv]
    # The site's hub listens on localhost: so does the port Docker publishes. Inside its
    # own network namespace the hub listens wide, or the published port would not reach it.
    # Only the hub holds the site's secrets file; no service mounts one as a volume.
    assert services["hub"]["ports"] == ["127.0.0.1:8001:8001", "127.0.0.1:8002:8002"]
    assert services["hub"]["secrets"] == ["hub"]
    assert compose_file["secrets"]["hub"] == {"file": "./secrets.yaml"}
    assert not any("secrets" in v for svc in services.values() for v in svc["volumes"])
    assert services["hub"]["command"] == ["hub", "--dir", "var/hub", "--listen", "0.0.0.0"]


def test_a_hub_that_listens_wide_is_published_wide():
    site = load_site_config(REPO / "site-config.yaml")
    site.hub.listen = "0.0.0.0"
    assert yaml.safe_load(compose(site))["services"]["hub"]["ports"][0] == "8001:8001"


def test_a_dashboard_bound_wide_is_published_wide():
    site = load_site_config(REPO / "site-config.yaml")
    web = site.hosts["localhost"].web
    assert web is not None
    web.arguments += ["--bind", "0.0.0.0", "--read-only"]
    assert yaml.safe_load(compose(site))["services"]["hub"]["ports"][1] == "8002:8002"


def test_each_service_gets_its_own_login_and_nothing_else(tmp_path):
    """`socs-like compose` writes each service's secrets file from the site's: an agent its
    derived secret (which its healthcheck logs in with too), the dashboard the observer."""
    (tmp_path / "site-config.yaml").write_text((REPO / "site-config.yaml").read_text())
    write_new_secrets(tmp_path / "secrets.yaml")
    site_secrets = load_secrets(tmp_path / "secrets.yaml")
    site = load_site_config(tmp_path / "site-config.yaml")
    written = write_service_secrets(site, "localhost", tmp_path / "compose-secrets")
    assert [p.name for p in written] == [f"{s}.yaml" for s in logging_in(site.hosts["localhost"])]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        own = load_secrets(path)
        assert own.agent_key is None and own.http_secret is None
        if path.stem == "web":
            assert (own.agents, list(own.users)) == ({}, ["observer"])
            assert own.client_credentials() == site_secrets.client_credentials("observer")
        else:
            assert (list(own.agents), own.users) == ([path.stem], {})
            assert own.client_credentials() == site_secrets.agent_credentials(path.stem)


def test_compose_without_secrets_says_what_to_run(tmp_path):
    (tmp_path / "site-config.yaml").write_text((REPO / "site-config.yaml").read_text())
    done = subprocess.run(
        [sys.executable, "-m", "socs_like", "compose"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "socs-like compose: wrote docker-compose.yml, not its services' secrets: there is no "
        f"secrets file {tmp_path}/secrets.yaml to give the services theirs: run `socs-like "
        "secrets init` (on another host than the hub's, copy its `secrets for-host` file "
        "there), then `socs-like compose` again\n"
    )


def test_the_dockerfile_runs_as_a_user_with_a_healthcheck():
    text = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\\\n\s+CMD socs-like status \"\$INSTANCE_ID\"", text, re.M)
    assert re.findall(r"^ENTRYPOINT (.*)$", text, re.M) == ['["socs-like"]']


def test_compose_refuses_arguments_the_agent_would_refuse(tmp_path, capsys):
    site = tmp_path / "site.yaml"
    bad = {"agent-class": "FakeData", "instance-id": "fd", "arguments": ["--num-chanels", 2]}
    site.write_text(yaml.safe_dump({"hosts": {"localhost": {"agent-instances": [bad]}}}))
    out = tmp_path / "docker-compose.yml"
    argv = ["--site-config", str(site), "--site-host", "localhost", "-o", str(out)]
    assert compose_main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        f"socs-like compose: {site}: host 'localhost', instance 'fd' (FakeData): arguments: "
        "unrecognized arguments: --num-chanels 2"
    )
    assert not out.exists()
