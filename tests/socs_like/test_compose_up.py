"""The compose file brought up as Docker would, with what this machine has (no Docker engine):
`docker-compose config` parses it, and each service's command, environment and mounts, as
that parse gives them, run as plain processes.

A service is a process in a network namespace of the test's own: the hub's, which every other
service joins (``network_mode: service:hub``); the test reaches it from a second namespace, the
Docker host's side, on the hub namespace's own interface, where a port Docker publishes
arrives. Its file system is a folder of its own: every absolute path of its command and
environment (and of the Dockerfile's ``WORKDIR`` and ``ENV``) is read under that folder, where
its volumes and secrets are bind mounts, read-only where compose says so. Started: the hub,
two agents (every agent service has that shape: ``agent`` with its own secret; the
simulators log in nowhere) and the dashboard.

What is not reproduced: the image's build (this environment's programs stand for it) and
its user (the processes run as root: this machine's Python lives in a folder uid 10001 cannot
read). `docker-compose` is Debian's 1.29 (`.ci/system-packages.sh`); it reads the file, which
has no ``version:``, by the Compose Specification, as ``docker compose`` does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from socs_like.client import AsyncClient, wait_for_agent
from socs_like.secrets import load_secrets
from socs_like.testing.netns import Host, Network
from socs_like.testing.util import wait_until

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
STARTED = {"registry": "Registry", "fake-data1": "FakeData"}  # instance id: agent class


def readme_compose_commands() -> list[str]:
    """The command lines of the README's compose section."""
    text = README.read_text()
    start = text.index("## Deploying with docker compose")
    section = text[start : text.index("\n## ", start + 1)]
    block = re.findall(r"^```sh\n(.*?)^```", section, re.M | re.S)
    assert len(block) == 1
    return block[0].splitlines()


@dataclass(frozen=True)
class Image:
    """What the Dockerfile gives every container: entry point, working folder, variables."""

    entrypoint: list[str]
    workdir: str
    env: dict[str, str]

    @classmethod
    def read(cls, dockerfile: Path) -> Image:
        text = dockerfile.read_text()
        env = dict(pair.split("=", 1) for pair in re.findall(r"^ENV (\S+=\S+)$", text, re.M))
        return cls(
            entrypoint=yaml.safe_load(re.findall(r"^ENTRYPOINT (.*)$", text, re.M)[-1]),
            workdir=re.findall(r"^WORKDIR (\S+)$", text, re.M)[-1],
            env=env,
        )


@dataclass
class Container:
    """One service of a `docker-compose config` parse, its file system under `root`."""

    name: str
    root: Path
    service: dict[str, Any]
    mounts: list[tuple[Path, str, bool]] = field(default_factory=list)  # source, target, ro

    def path(self, value: str) -> str:
        """`value` as this container sees it: an absolute path is under its root."""
        return f"{self.root}{value}" if value.startswith("/") else value

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run in this container: a shell that makes its bind mounts, in the mount
        namespace of its own that its caller gives it (``ip netns exec``, ``unshare``)."""
        script = ["set -e"]
        for source, target, read_only in self.mounts:
            point = shlex.quote(self.path(target))
            script.append(f"mount --bind {shlex.quote(str(source))} {point}")
            if read_only:
                script.append(f"mount -o remount,bind,ro {point}")
        script.append('exec "$@"')
        return ["sh", "-c", "\n".join(script), "sh", *map(self.path, argv)]

    def env(self, image: Image) -> dict[str, str]:
        given = {**image.env, **{k: str(v) for k, v in self.service["environment"].items()}}
        # the image's programs are this environment's; its code, this test's
        bin_dir = Path(sys.executable).parent
        ours = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"}
        if "PYTHONPATH" in os.environ:
            ours["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return ours | {k: self.path(v) for k, v in given.items()}


def containers(config: dict[str, Any], project: Path, image: Image) -> dict[str, Container]:
    """Every service of `config` (a `docker-compose config` parse of the compose file in
    `project`), its mount points made under a root of its own."""
    found = {}
    for name, service in config["services"].items():
        box = Container(name, project / "containers" / name, service)
        for volume in service.get("volumes", []):
            source, target, mode = volume.split(":")
            host = Path(source) if source.startswith("/") else project / "volumes" / source
            box.mounts.append((host, target, mode == "ro"))
        for secret in service.get("secrets", []):
            source = config["secrets"][secret["source"]]["file"]
            box.mounts.append((Path(source), f"/run/secrets/{secret['source']}", True))
        for source, target, _ro in box.mounts:
            point = Path(box.path(target))
            # as Docker does, a missing source is made, as a folder (on a real host, root's)
            if source.is_dir() or not source.exists():
                source.mkdir(parents=True, exist_ok=True)
                point.mkdir(parents=True, exist_ok=True)
            else:
                point.parent.mkdir(parents=True, exist_ok=True)
                point.touch()
        Path(box.path(image.workdir)).mkdir(parents=True, exist_ok=True)
        found[name] = box
    return found


def start(
    host: Host, box: Container, image: Image, argv: list[str], out: Any = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    """`argv` in container `box`, its output to `out`."""
    return host.popen(
        box.command(argv),
        cwd=box.path(image.workdir),
        env=box.env(image),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def ask_dashboard(address: str, path: str, body: Any = None) -> Any:
    """The dashboard's JSON answer at `path` (POST `body` when given), reached at `address`
    as a browser on the Docker host reaches the port published on its loopback."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Host": "127.0.0.1:8002", "Content-Type": "application/json"}
    request = urllib.request.Request(f"http://{address}:8002{path}", data, headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def published(service: dict[str, Any], port: int) -> str:
    """The host address Docker publishes container port `port` on (parse's long form)."""
    for entry in service["ports"]:
        address, host_port, target = re.fullmatch(r"(.+):(\d+):(\d+)/tcp", entry).groups()
        if int(target) == port:
            assert int(host_port) == port
            return address
    raise AssertionError(f"port {port} is not published")


def test_the_compose_services_start_as_the_file_says_and_join_the_authenticated_hub(
    network: Network, tmp_path: Path
) -> None:
    project = tmp_path / "site"
    project.mkdir()
    (project / "site-config.yaml").write_text((REPO / "site-config.yaml").read_text())
    # The README's commands: ours run here; Docker's and the chown (to the image's user,
    # as `socs-like compose` says) are what this test does in their place.
    commands = readme_compose_commands()
    ours = [c.split() for c in commands if c.startswith("socs-like ")]
    assert ours == [["socs-like", "secrets", "init"], ["socs-like", "compose"]]
    for argv in ours:
        done = subprocess.run(
            [sys.executable, "-m", "socs_like", *argv[1:]],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    ownership = done.stdout.split(": ", 1)[1].strip().replace(f"{project}/", "")
    assert [c for c in commands if not c.startswith("socs-like ")] == [
        ownership,
        "docker compose up -d",
    ]
    assert (project / "docker-compose.yml").read_text() == (REPO / "docker-compose.yml").read_text()
    parsed = subprocess.run(
        ["docker-compose", "config"], cwd=project, capture_output=True, text=True, check=True
    )
    config = yaml.safe_load(parsed.stdout)
    image = Image.read(REPO / "Dockerfile")
    boxes = containers(config, project, image)

    # Each agent sees its own login and nothing else: no agent key, no user, no other agent.
    for name in STARTED:
        service = config["services"][name]
        assert [s["source"] for s in service["secrets"]] == [name]
        assert not any("secrets" in v for v in service["volumes"])
        own = load_secrets(config["secrets"][name]["file"])
        assert (own.agent_key, list(own.agents), own.users) == (None, [name], {})

    hub, docker = network.add_host("hub"), network.add_host("docker")
    logs = project / "logs"
    logs.mkdir()
    processes = {}
    for name in ["hub", *STARTED, "web"]:
        service = config["services"][name]
        assert name == "hub" or service["network_mode"] == "service:hub"
        with open(logs / name, "wb") as out:
            argv = [*image.entrypoint, *service["command"]]
            processes[name] = start(hub, boxes[name], image, argv, out)

    site_secrets = load_secrets(project / "secrets.yaml")
    admin = site_secrets.client_credentials("admin")
    url = f"ws://{hub.address}:8001/ws"
    assert published(config["services"]["hub"], 8001) == "127.0.0.1"

    async def joined() -> dict[str, str]:
        found = {}
        for name in STARTED:
            client = AsyncClient(name, hub_url=url, credentials=admin)
            try:
                found[name] = (await wait_for_agent(client, 60))["agent_class"]
            finally:
                await client.close()
        return found

    try:
        assert docker.run(joined(), 90) == STARTED
        # The healthchecks, in their containers: the hub's port; an agent asked as itself
        # (every agent's check has that shape: one is run).
        checks = {}
        for name in ["hub", "fake-data1"]:
            test = config["services"][name]["healthcheck"]["test"]
            assert test[0] == "CMD"
            checks[name] = start(hub, boxes[name], image, test[1:])
        for name, check in checks.items():
            out, _ = check.communicate(timeout=60)
            assert check.returncode == 0, f"{name}: {out.decode()}"

        # The dashboard, published on the host's loopback, as a browser there reaches it:
        # logged in to the hub as the observer, the agents alive by their heartbeats.
        assert published(config["services"]["hub"], 8002) == "127.0.0.1"

        def overview() -> dict[str, Any] | None:
            try:
                data = ask_dashboard(hub.address, "/api/overview")
            except OSError:
                return None
            rows = {a["instance_id"]: (a["agent_class"], a["state"]) for a in data["agents"]}
            alive = all(rows.get(i) == (c, "alive") for i, c in STARTED.items())
            return data if alive else None

        seen = wait_until(lambda: docker.call(overview), 60, 0.5, "the dashboard's agents")
        assert seen["hub"]["role"] == "observer"
        # A person logs in there as a user of the site's file, which the dashboard does not
        # hold: the hub checks the login.
        login = {"user": "controller", "secret": site_secrets.users["controller"].secret}
        answer = docker.call(ask_dashboard, hub.address, "/api/login", login)
        assert answer["login"]["role"] == "controller"
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(30)
    for name, process in processes.items():
        assert process.returncode == 0, f"{name}: {(logs / name).read_text()}"


@pytest.mark.usefixtures("network")
def test_a_hub_with_a_read_only_config_folder_and_no_secrets_refuses_in_one_line(
    tmp_path: Path,
) -> None:
    """As /config is for the image's user: the hub cannot write the secrets file it lacks."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "default.yaml").write_text((REPO / "site-config.yaml").read_text())
    image = Image.read(REPO / "Dockerfile")
    hub_service = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["hub"]
    box = Container("hub", tmp_path / "root", {"environment": {}}, [(config, "/config", True)])
    Path(box.path("/config")).mkdir(parents=True)
    Path(box.path(image.workdir)).mkdir(parents=True)
    done = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            *box.command([*image.entrypoint, *hub_service["command"]]),
        ],
        cwd=box.path(image.workdir),
        env=box.env(image),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"socs-like hub: there is no secrets file {box.root}/config/secrets.yaml, and none can "
        "be written there (Read-only file system): make one with `socs-like secrets init` "
        "where it may be written and give it to this process (as "
        f"{box.root}/config/secrets.yaml, or in $SOCS_LIKE_SECRETS)"
    ]
