"""`socs-like compose`: the committed docker-compose.yml is its output, it matches the site
config, and the image's entry command is the command run here against a real hub."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from socs_like.client import AsyncClient, run_sync, wait_for_agent
from socs_like.compose import compose
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
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    host = site.hosts["localhost"]
    assert list(services) == [
        "hub",
        *(i.instance_id for i in host.agent_instances if i.manage != "no"),
        *(f"sim-{s.name}" for s in host.simulators),
        "web",
    ]
    assert host.web is not None
    assert services["web"]["command"] == [
        "web",
        "--site-config",
        "/config/default.yaml",
        *host.web.argv,
    ]
    for inst in host.agent_instances:
        svc = services[inst.instance_id]
        assert svc["command"] == ["agent"]
        assert svc["environment"] == {
            "INSTANCE_ID": inst.instance_id,
            "SITE_HUB": site.hub.wamp_server,
            "SITE_HTTP": site.hub.http_url,
            "SITE_HOST": "localhost",
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
    assert services["hub"]["ports"] == ["127.0.0.1:8001:8001"]
    assert services["hub"]["command"] == ["hub", "--dir", "var/hub", "--listen", "0.0.0.0"]


def test_a_hub_that_listens_wide_is_published_wide():
    site = load_site_config(REPO / "site-config.yaml")
    site.hub.listen = "0.0.0.0"
    assert yaml.safe_load(compose(site))["services"]["hub"]["ports"] == ["8001:8001"]


def test_the_dockerfile_runs_as_a_user_with_a_healthcheck():
    text = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\\\n\s+CMD socs-like status \"\$INSTANCE_ID\"", text, re.M)
    assert re.findall(r"^ENTRYPOINT (.*)$", text, re.M) == ['["socs-like"]']


def test_the_image_command_runs_an_agent_and_its_healthcheck_asks_it(hub, tmp_path):
    """ENTRYPOINT + a service's command and environment, as the container would run them
    (the site config's hub replaced by the test hub)."""
    site = yaml.safe_load((REPO / "site-config.yaml").read_text())
    site["hub"] = yaml.safe_load(hub.site_file.read_text())["hub"]
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "default.yaml").write_text(yaml.safe_dump(site))
    services = yaml.safe_load(compose(load_site_config(config_dir / "default.yaml")))["services"]
    service = services["fake-data1"]
    dockerfile = (REPO / "Dockerfile").read_text()
    entrypoint = yaml.safe_load(re.findall(r"^ENTRYPOINT (.*)$", dockerfile, re.M)[0])
    bin_dir = Path(sys.executable).parent
    env = os.environ | {"OCS_CONFIG_DIR": str(config_dir), **service["environment"]}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    agent = subprocess.Popen(
        [*entrypoint, *service["command"]],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    health = service["healthcheck"]["test"][1:]
    try:
        client = AsyncClient("fake-data1", hub_url=hub.url)
        api = run_sync(wait_for_agent(client, 30), 35)
        run_sync(client.close(), 5)
        assert api["agent_class"] == "FakeData"
        ok = subprocess.run(health, cwd=tmp_path, env=env, capture_output=True, timeout=60)
        assert ok.returncode == 0, ok.stdout + ok.stderr
    finally:
        agent.terminate()
        assert agent.wait(30) == 0
    down = subprocess.run(health, cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert down.returncode == 1, shlex.join(health)
