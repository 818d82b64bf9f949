"""docs/deploying.md followed step by step, on two hosts that are network namespaces.

The guide's site config, OCS site file and systemd unit are read from the guide itself (its
example addresses replaced by the namespaces'), and its commands are the constants below:
`test_the_guide_shows_the_commands_the_tests_run` checks that the guide shows each, and no
other. The hub host and the DAQ host each get their own folder, as two machines would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from socs_like.client import AsyncClient, ClientError
from socs_like.compose import compose
from socs_like.secrets import host_secrets_text, load_secrets, write_new_secrets, write_private
from socs_like.site_config import load_site_config
from socs_like.testing.util import wait_until

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "deploying.md"
# The guide's example addresses (TEST-NET-1) and the site's hosts.
HUB_EXAMPLE, DAQ_EXAMPLE = "192.0.2.10", "192.0.2.20"
DASHBOARD_PORT = 8080  # the guide's hub block runs the dashboard there

# --- the guide's commands, as a deployer types them -----------------------------------------
CHECK = "socs-like config check"
CA = (
    "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650"
    ' -subj "/CN=socs-like site CA" -keyout ca.key -out ca.pem'
)
CSR = (
    "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    f' -subj "/CN={HUB_EXAMPLE}" -addext "subjectAltName=IP:{HUB_EXAMPLE}"'
    " -keyout hub.key -out hub.csr"
)
SIGN = (
    "openssl x509 -req -in hub.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825"
    " -copy_extensions copy -out hub.pem"
)
KEYS_PRIVATE = "chmod 600 ca.key hub.key"
INIT = "socs-like secrets init"
FOR_HOST = "socs-like secrets for-host daq"
SECRETS_CHECK = "socs-like secrets check"
UP_DAQ = "socs-like up --site-host daq"
UP_HUB = "socs-like up --site-host hub"
STATUS = "socs-like status"
HOST_LIST = "socs-like host list --site-host daq"
CALL = "socs-like call fd-daq delay_task delay=0.1"
CALL_HTTP = "socs-like call fd-daq delay_task delay=0.1 --http"
OCS_AGENT = "ocs-agent-cli --site-file ocs-site.yaml --site-host daq --instance-id ocs-fd-daq"
CALL_OCS = "socs-like call ocs-fd-daq delay_task delay=0.1"
COMPOSE = "socs-like compose --site-host daq"
COMMANDS = [
    CHECK,
    CA,
    CSR,
    SIGN,
    KEYS_PRIVATE,
    INIT,
    FOR_HOST,
    SECRETS_CHECK,
    UP_DAQ,
    UP_HUB,
    STATUS,
    HOST_LIST,
    CALL,
    CALL_HTTP,
    OCS_AGENT,
    CALL_OCS,
    COMPOSE,
]


def guide_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", GUIDE.read_text(), re.M | re.S)


def guide_file(name: str) -> str:
    """The guide's code block whose first line is ``# <name> ...``."""
    blocks = [b for lang in ("yaml", "ini") for b in guide_blocks(lang)]
    found = [b for b in blocks if b.startswith(f"# {name}")]
    assert len(found) == 1, f"the guide shows {name} {len(found)} times"
    return found[0]


def guide_shows(line: str) -> bool:
    """The guide shows `line` as program output (an indented block of its own)."""
    return f"\n    {line}\n" in GUIDE.read_text()


def guide_commands() -> list[str]:
    """Every command line of the guide's shell blocks (comments and prompts left out)."""
    lines = [line.strip() for block in guide_blocks("sh") for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def words(command: str) -> list[str]:
    """`command` as the test runs it: ``socs-like`` is this interpreter's module, other
    programs come from the environment's bin folder or the PATH."""
    argv = shlex.split(command)
    if argv[0] == "socs-like":
        return [sys.executable, "-m", "socs_like", *argv[1:]]
    beside = Path(sys.executable).parent / argv[0]
    return [str(beside) if beside.exists() else argv[0], *argv[1:]]


def test_the_guide_shows_the_commands_the_tests_run():
    shown = guide_commands()
    for command in COMMANDS:
        assert command in shown, f"the guide does not show {command!r}"
    # Besides them it shows only copying between hosts and systemd's own commands.
    others = [c for c in shown if c not in COMMANDS]
    assert all(c.split()[0] in ("scp", "sudo", "ssh", "docker") for c in others), others


def test_the_guides_unit_file_runs_the_tested_command():
    unit = guide_file("/etc/systemd/system/socs-like.service")
    exec_start = re.findall(r"^ExecStart=(\S+) (.*)$", unit, re.M)
    assert len(exec_start) == 1
    binary, args = exec_start[0]
    assert binary.endswith("/bin/socs-like")
    # the test runs `up` without a terminal too, so it logs lines, as under systemd
    assert shlex.split(args) == [*shlex.split(UP_DAQ)[1:], "--no-table"]
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M)  # `up` stops everything on TERM


# --- the walk-through on two namespace hosts ---------------------------------------------------


class Machine:
    """One host of the guide: its namespace, its own folder, commands run in both."""

    def __init__(self, host: Any, folder: Path) -> None:
        self.host = host
        self.folder = folder
        folder.mkdir(parents=True)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("SOCS_LIKE_SECRETS", "SOCS_LIKE_CA_FILE", "OCS_CONFIG_DIR", "SITE_HOST")
        } | {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"}

    def run(self, command: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.host.command(words(command)),
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, command: str) -> str:
        done = self.run(command)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        return done.stdout

    def start(self, command: str, log: str) -> subprocess.Popen[bytes]:
        with open(self.folder / log, "wb") as out:
            return self.host.popen(
                words(command), cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def says(self, log: str, text: str, timeout: float = 60) -> None:
        path = self.folder / log
        wait_until(
            lambda: text in path.read_text(errors="replace"),
            timeout,
            0.1,
            message=f"{self.host.name}'s {log} to say {text!r}",
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(60)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.timeout(420)
def test_a_second_host_by_the_guide(network, tmp_path):
    hub_ns, daq_ns = network.add_host("hub"), network.add_host("daq")
    hub, daq = Machine(hub_ns, tmp_path / "hub"), Machine(daq_ns, tmp_path / "daq")

    def here(text: str) -> str:
        return text.replace(HUB_EXAMPLE, hub_ns.address).replace(DAQ_EXAMPLE, daq_ns.address)

    hub_url = f"wss://{hub_ns.address}:8001/ws"
    (hub.folder / "site-config.yaml").write_text(here(guide_file("site-config.yaml")))

    # --- on the hub host: check the config, make the certificates and the secrets ---
    assert "OK (2 hosts" in hub.ok(CHECK)
    for command in (CA, CSR, SIGN, KEYS_PRIVATE):
        hub.ok(here(command))
    hub.ok(INIT)
    hub.ok(FOR_HOST)
    made = hub.folder / "secrets-daq.yaml"
    assert mode(made) == 0o600

    # --- copied to the DAQ host: the site config, the CA, its own secrets (mode 600) ---
    for name in ("site-config.yaml", "ca.pem"):
        shutil.copy(hub.folder / name, daq.folder / name)
    shutil.copy(made, daq.folder / "secrets.yaml")
    (daq.folder / "secrets.yaml").chmod(0o600)
    assert "users ['host:daq']" in daq.ok(SECRETS_CHECK)
    admin, own = (
        load_secrets(hub.folder / "secrets.yaml"),
        load_secrets(daq.folder / "secrets.yaml"),
    )
    # only what the DAQ host runs: its agents' own secrets and its login, never the agent key
    assert own.agent_key is None and sorted(own.agents) == ["fd-daq", "hm-daq"]
    assert all(own.agents[i] == admin.agent_secret(i) for i in own.agents)
    assert list(own.users) == ["host:daq"] and own.client_user == "host:daq"
    assert not set(own.users) & set(admin.users)

    # --- the DAQ host comes up first: it waits for the hub, and says so ---
    up_daq = daq.start(UP_DAQ, "up.log")
    daq.says("up.log", f"waiting for the hub at {hub_url}")
    assert up_daq.poll() is None
    up_hub = hub.start(UP_HUB, "up.log")
    hub.says("up.log", "hub is up")
    daq.says("up.log", f"joined the hub at {hub_url}")

    # --- the hub host sees the DAQ host's HostManager and agent, alive ---
    def hub_client(instance_id: str) -> AsyncClient:
        return AsyncClient.from_site(
            instance_id,
            str(hub.folder / "site-config.yaml"),
            credentials=admin.client_credentials(),
            timeout=5,
        )

    registry = hub_client("registry")

    def alive(address: str) -> bool:
        try:
            reply = hub_ns.run(registry.request("status", "main"), 30)
        except ClientError:
            return False
        entry = (reply.session.get("data") or {}).get(address)
        return bool(entry) and not entry["expired"]

    for address in ("observatory.hm-daq", "observatory.fd-daq"):
        wait_until(lambda a=address: alive(a), 60, 0.5, message=f"{address} alive")
    manager = hub_client("hm-daq")

    def daq_report() -> dict[str, Any]:
        # The registry saw hm-daq beat, but on a loaded machine its connection may be
        # re-joining when we call (once in a full run: "no agent answers"): ask again, as an
        # operator would, until the time-out.
        try:
            reply = hub_ns.run(manager.request("status", "manager"), 30)
        except ClientError:
            return {}
        return reply.session.get("data") or {}

    report = wait_until(
        lambda: (d := daq_report()) and d.get("instances", {}).get("fd-daq", {}).get("pid") and d,
        60,
        0.5,
        message="hm-daq reports fd-daq running",
    )
    assert report["host"] == "daq" and report["instances"]["fd-daq"]["state"] == "running"

    # --- the hub host's dashboard shows each HostManager, alive, with its host ---
    def overview() -> dict[str, dict[str, Any]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{DASHBOARD_PORT}/api/overview") as r:
            return {a["instance_id"]: a for a in json.load(r)["agents"]}

    def on_dashboard() -> dict[str, tuple[str, str]] | None:
        try:
            rows = hub_ns.call(overview)
        except OSError:
            return None
        shown = {i: (rows[i]["host"], rows[i]["state"]) for i in ("hm-hub", "hm-daq") if i in rows}
        return shown if len(shown) == 2 and all(s == "alive" for _, s in shown.values()) else None

    shown = wait_until(on_dashboard, 60, 0.5, message="both HostManagers alive on the dashboard")
    assert shown == {"hm-hub": ("hub", "alive"), "hm-daq": ("daq", "alive")}

    # --- on the DAQ host, with its own secrets only: status, host commands, calls ---
    status = daq.ok(STATUS)  # exit 0: every agent of the site config answers
    assert "fd-daq" in status and "registry" in status
    listed = daq.ok(HOST_LIST)
    assert "host daq" in listed and "fd-daq" in listed and "running" in listed
    assert "OK" in daq.ok(CALL)
    # the HTTP bridge takes calls from the hub's own host only, and says how to change that
    refused = daq.run(CALL_HTTP)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "hub.http_bridge" in refused.stderr
    assert guide_shows(refused.stderr.strip().replace(hub_ns.address, HUB_EXAMPLE))
    # the hub's certificate is checked: a client with another CA gets nowhere
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(shlex.split(CA), cwd=other, capture_output=True, check=True)
    stranger = AsyncClient(
        "fd-daq", hub_url=hub_url, timeout=5, ca_file=str(other / "ca.pem"), anonymous=True
    )
    with pytest.raises(ClientError, match="CERTIFICATE_VERIFY_FAILED"):
        daq_ns.run(stranger.get_api(), 30)

    # --- a real OCS agent on the DAQ host, through the hub's legacy endpoint ---
    (daq.folder / "ocs-site.yaml").write_text(here(guide_file("ocs-site.yaml")))
    daq.start(OCS_AGENT, "ocs-fd-daq.log")
    wait_until(lambda: hub.run(CALL_OCS).returncode == 0, 60, 1.0, message="the OCS agent")

    # --- upgrading the hub host: the DAQ host waits for it, its agents carry on ---
    pid = report["instances"]["fd-daq"]["pid"]
    stop(up_hub)
    daq.says("up.log", f"lost the hub at {hub_url}")
    up_hub = hub.start(UP_HUB, "up-again.log")
    hub.says("up-again.log", "hub is up")
    wait_until(lambda: daq.run(CALL).returncode == 0, 60, 1.0, message="fd-daq through the hub")
    assert daq_report()["instances"]["fd-daq"]["pid"] == pid
    for client in (registry, manager):
        hub_ns.run(client.close(), 10)
    stop(up_daq)
    stop(up_hub)
    # the hub never refused anyone: every process logged in with what its host holds
    assert "refused" not in (daq.folder / "up.log").read_text()


# --- choosing the host block (no namespaces needed) ---------------------------------------------


@pytest.mark.slow
def test_a_host_not_in_the_site_config_runs_nothing_and_names_the_hosts(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SITE_HOST"}

    def up(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            words("socs-like up"),
            cwd=tmp_path,
            env=env | extra,
            capture_output=True,
            text=True,
            timeout=60,
        )

    guide = guide_file("site-config.yaml")
    # OCS would run a `localhost` block on any host it does not list: the hub's, hub included
    as_ocs_names_it = guide.replace("\n  hub:", "\n  localhost:")
    for text, hosts in ((guide, "['daq', 'hub']"), (as_ocs_names_it, "['daq', 'localhost']")):
        (tmp_path / "site-config.yaml").write_text(text)
        for done, name in ((up(), None), (up(SITE_HOST="nowhere"), "nowhere")):
            assert done.returncode == 2, done.stdout
            line = done.stderr
            assert line.count("\n") == 1 and line.startswith("socs-like up: ")
            assert hosts in line and "--site-host" in line and "SITE_HOST" in line
            if name:
                assert repr(name) in line
            else:
                hostname = repr(socket.gethostname())
                assert (
                    guide_shows(line.strip().replace(hostname, "'daq-07'")) or "localhost" in hosts
                )
            assert not (tmp_path / "var").exists()  # no hub, no agent, no log was started


def test_compose_for_a_host_without_the_hub_runs_no_hub(tmp_path):
    """On the DAQ host, with the file `secrets for-host daq` made as its secrets.yaml (§4)."""
    (tmp_path / "site-config.yaml").write_text(guide_file("site-config.yaml"))
    site_secrets = tmp_path / "site-secrets.yaml"
    write_new_secrets(site_secrets)
    host_file = host_secrets_text(load_secrets(site_secrets), "daq", ["fd-daq"])
    write_private(tmp_path / "secrets.yaml", host_file)
    done = subprocess.run(words(COMPOSE), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    compose_file = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    services = compose_file["services"]
    assert list(services) == ["fd-daq"]
    fd = services["fd-daq"]
    assert fd["network_mode"] == "host" and "depends_on" not in fd
    assert fd["environment"]["SITE_HOST"] == "daq"
    assert fd["environment"]["SITE_HUB"] == f"wss://{HUB_EXAMPLE}:8001/ws"
    # its own secret only (not the host's login), and no hub's secrets on this host
    assert fd["secrets"] == ["fd-daq"] and list(compose_file["secrets"]) == ["fd-daq"]
    own = load_secrets(tmp_path / "compose-secrets" / "fd-daq.yaml")
    assert (list(own.agents), own.users) == (["fd-daq"], {})
    assert own.agent_secret("fd-daq") == load_secrets(site_secrets).agent_secret("fd-daq")
    assert "./ca.pem:/config/ca.pem:ro" in fd["volumes"]
    assert not any("hub.key" in v for v in fd["volumes"])  # the hub's key stays on its host
    # the hub host's: the hub, its certificate and key, the others in its namespace
    on_hub = compose(load_site_config(tmp_path / "site-config.yaml"), "hub")
    hub_services = yaml.safe_load(on_hub)["services"]
    assert list(hub_services) == ["hub", "registry", "web"]
    assert "./hub.key:/config/hub.key:ro" in hub_services["hub"]["volumes"]
    assert hub_services["registry"]["network_mode"] == "service:hub"
    assert hub_services["web"]["network_mode"] == "service:hub"
