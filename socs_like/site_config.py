"""The site config: OCS's schema, validated with messages that name the file, line and fix.

Where the file is found, first match wins: ``--site-config``/``--site-file``, then
``$OCS_CONFIG_DIR/default.yaml``, then ``./site-config.yaml``. The host block is chosen by
``--site-host`` (or ``$SITE_HOST``), else this machine's hostname; a name the file does not
list is refused (`SiteConfig.host` says why OCS's ``localhost`` fallback is kept only for a
site on one machine).

An agent's arguments are the instance's ``arguments`` from the file followed by the command
line, so for each flag the command line wins. The OCS environment variables ``INSTANCE_ID``,
``SITE_HUB``, ``SITE_HTTP``, ``SITE_HOST`` and ``CROSSBAR_TIMEOUT`` stand in for the flags
of the same meaning when those are not given.
"""

from __future__ import annotations

import argparse
import difflib
import ipaddress
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from .packing import EVERYONE, Audience
from .secrets import (
    CA_ENV,
    CA_FILE_HELP,
    SECRETS_ENV,
    Credentials,
    SecretsError,
    default_client_credentials,
    find_secrets_file,
    load_if_present,
)


class SiteConfigError(Exception):
    """A site config that cannot be used; the message is one line meant for a person."""


HOST_MANAGER_CLASS = "HostManager"


def host_manager_id(host: str) -> str:
    """The instance id of the HostManager `socs-like up` starts on `host`."""
    return f"hm-{host}"


class LegacyConfig(BaseModel):
    """A second, anonymous hub endpoint for real OCS agents and clients, which cannot log in.

    Its sessions may register and publish only as the instance ids listed in ``agents`` and
    otherwise have ``role``'s rights. It listens on one named interface, never on all.
    """

    model_config = ConfigDict(extra="forbid")

    port: int
    interface: str = "127.0.0.1"
    agents: list[str] = Field(default_factory=list)
    role: Literal["observer", "controller"] = "controller"

    @field_validator("interface")
    @classmethod
    def _named_interface(cls, value: str) -> str:
        if value in ("", "*") or _all_interfaces(value):
            raise ValueError(
                f"the legacy endpoint must listen on loopback or a named interface, not {value!r}"
            )
        return value


def _all_interfaces(address: str) -> bool:
    """Whether `address` is the wildcard however it is spelt (``0``, ``0x0``, ``::0``, ...):
    read as the socket library reads it, without a name lookup (a name is an interface)."""
    try:
        found = socket.getaddrinfo(address, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return False
    return any(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_unspecified for info in found)


class TlsConfig(BaseModel):
    """The hub's certificate and key (PEM files) for its WebSocket and HTTP transports."""

    model_config = ConfigDict(extra="forbid")

    certificate: str
    key: str


class PasswordLevel(BaseModel):
    """An OCS-style operation password, as a slow salted hash, and the level it grants."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["controller", "admin"]
    hash: str = Field(repr=False)

    @field_validator("hash")
    @classmethod
    def _slow_hash(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError(
                "give an argon2 hash (socs-like secrets hash-password), never the password"
            )
        return value


# The WAMP serializers our hub offers and our agents and clients ask for, in this order:
# msgpack costs crossbar the least to parse and encode, and one serializer for all of ours
# means an event is encoded once for all our subscribers. OCS's peers keep theirs (cbor,
# json): the hub translates.
WAMP_SERIALIZERS = ("msgpack", "cbor", "json")


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wamp_server: str = "ws://localhost:8001/ws"
    wamp_http: str | None = None
    wamp_realm: str = "test_realm"
    address_root: str = "observatory"
    registry_address: str | None = None
    # Security (see docs/security.md). The secrets themselves are never here.
    secrets_file: str | None = None
    anonymous: Literal["none", "observer"] = "none"
    http_bridge: Literal["off", "loopback", "signed"] = "loopback"
    # The address the hub binds; None: the one `wamp_server`'s host names (see socs_like.hub).
    listen: str | None = None
    legacy: LegacyConfig | None = None
    tls: TlsConfig | None = None
    ca_file: str | None = None
    passwords: list[PasswordLevel] = Field(default_factory=list)
    # How soon a connection that went silent (a partition, a host gone) is noticed: within
    # interval + timeout seconds (socs_like/liveness.py; WebSocket pings for OCS's peers).
    ping_interval: float = Field(default=5.0, gt=0)
    ping_timeout: float = Field(default=5.0, gt=0)

    _site_dir: Path | None = PrivateAttr(default=None)

    def secrets_path(self, env: Mapping[str, str] = os.environ) -> Path | None:
        """Where this site's secrets file is (see `socs_like.secrets`)."""
        return find_secrets_file(self._site_dir, self.secrets_file, env)

    def ca_bundle(self, env: Mapping[str, str] = os.environ) -> str | None:
        """The CA bundle that verifies a ``wss://`` hub: ``$SOCS_LIKE_CA_FILE``, else
        `ca_file` (relative to the site config's folder). A ``--ca-file`` flag, or a
        ``ca_file=`` given in code, comes before both; with none, the system's CAs."""
        return env.get(CA_ENV) or self.resolve(self.ca_file)

    def resolve(self, path: str | None) -> str | None:
        """A path from the site config, relative to the site config's folder."""
        if path is None or self._site_dir is None:
            return path
        return str(self._site_dir / path)

    @field_validator("http_bridge", mode="before")
    @classmethod
    def _bare_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML reads a bare `off` as false

    @field_validator("listen")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not an IP address (0.0.0.0 binds every interface)"
                ) from None
        return value

    @field_validator("wamp_server")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        url = urlparse(value)
        if url.scheme not in ("ws", "wss") or not url.hostname:
            raise ValueError(f"{value!r} is not a WebSocket URL such as ws://localhost:8001/ws")
        return value

    @property
    def on_loopback(self) -> bool:
        """The hub is at a loopback address: the site is on one machine."""
        name = urlparse(self.wamp_server).hostname or ""
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    @property
    def http_url(self) -> str:
        if self.wamp_http:
            return self.wamp_http
        url = urlparse(self.wamp_server)
        scheme = "https" if url.scheme == "wss" else "http"
        return f"{scheme}://{url.netloc}/call"


class FeedSettings(BaseModel):
    """One feed's settings for one instance (our addition to OCS's schema)."""

    model_config = ConfigDict(extra="forbid")

    # Seconds a feed gathers records before it publishes them as one event, like OCS's
    # ``buffer_time``: fewer events for the hub to route, later delivery.
    buffer_time: float = Field(ge=0.0, le=60.0)


class InstanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_class: str = Field(alias="agent-class")
    instance_id: str = Field(alias="instance-id")
    arguments: list[Any] = Field(default_factory=list)
    manage: str | None = None
    # When `socs-like up` restarts the instance after it exits (our addition to OCS's schema).
    restart: Literal["always", "on-failure", "never"] = "always"
    feeds: dict[str, FeedSettings] = Field(default_factory=dict)  # by feed name

    @property
    def argv(self) -> list[str]:
        """The arguments as command-line words; OCS allows nested lists and scalars."""
        words: list[str] = []
        for item in self.arguments:
            for word in item if isinstance(item, list) else [item]:
                words.append(str(word))
        return words


class SimulatorConfig(BaseModel):
    """A simulator `socs-like up` runs beside the agents (our addition to OCS's schema)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: list[Any] = Field(default_factory=list)
    restart: Literal["always", "on-failure", "never"] = "always"

    @property
    def argv(self) -> list[str]:
        return [str(a) for a in self.arguments]


class WebConfig(BaseModel):
    """The web dashboard `socs-like up` runs on this host (`socs-like web ARGUMENTS`)."""

    model_config = ConfigDict(extra="forbid")

    arguments: list[Any] = Field(default_factory=list)
    restart: Literal["always", "on-failure", "never"] = "always"

    @property
    def argv(self) -> list[str]:
        return [str(a) for a in self.arguments]


class HostConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    log_dir: str | None = Field(default=None, alias="log-dir")
    crossbar_timeout: float | None = None
    agent_paths: list[str] = Field(default_factory=list, alias="agent-paths")
    crossbar: dict[str, Any] | None = None
    agent_instances: list[InstanceConfig] = Field(default_factory=list, alias="agent-instances")
    simulators: list[SimulatorConfig] = Field(default_factory=list)
    web: WebConfig | None = None

    @property
    def runs_hub(self) -> bool:
        """A host with a ``crossbar:`` block runs the hub (as with OCS's ocsbow)."""
        return self.crossbar is not None


class SiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hub: HubConfig = Field(default_factory=HubConfig)
    hosts: dict[str, HostConfig] = Field(default_factory=dict)

    def host(
        self, name: str | None = None, env: Mapping[str, str] = os.environ
    ) -> tuple[str, HostConfig]:
        """The host block to run: `name` (``--site-host``), else ``$SITE_HOST``, else this
        machine's hostname.

        A name the file does not list is refused in one line naming the blocks it has,
        never replaced by another block. OCS falls back to a ``localhost`` block, which on a
        site of several hosts is the hub host's: a host the file forgets would run it, hub
        included. So that fallback is kept only for a site on one machine (its hub at a
        loopback address), where ``localhost`` cannot mean another host.
        """
        chosen = name or env.get("SITE_HOST")
        how = f"it lists {sorted(self.hosts)}: run with --site-host NAME (or set SITE_HOST)"
        if chosen:
            if chosen in self.hosts:
                return chosen, self.hosts[chosen]
            raise SiteConfigError(f"no host {chosen!r} in the site config; {how}")
        hostname = socket.gethostname()
        if hostname in self.hosts:
            return hostname, self.hosts[hostname]
        if "localhost" in self.hosts and self.hub.on_loopback:
            return "localhost", self.hosts["localhost"]
        raise SiteConfigError(
            f"this host is {hostname!r}, which the site config does not list; {how}"
        )

    def host_agents(self, name: str) -> list[str]:
        """Every agent instance id that runs on host `name`: those of its block and, unless
        the block lists a HostManager, the one `socs-like up` starts there."""
        _, host = self.host(name, env={})
        ids = [i.instance_id for i in host.agent_instances]
        managers = [i for i in host.agent_instances if i.agent_class == HOST_MANAGER_CLASS]
        if not any(i.manage != "no" for i in managers):
            ids.insert(0, host_manager_id(name))
        return ids

    def instance(self, instance_id: str) -> tuple[str, InstanceConfig]:
        """Find an agent instance on any host: (host name, instance)."""
        for host_name, host in self.hosts.items():
            for inst in host.agent_instances:
                if inst.instance_id == instance_id:
                    return host_name, inst
        known = [i.instance_id for h in self.hosts.values() for i in h.agent_instances]
        hint = difflib.get_close_matches(instance_id, known, n=1)
        raise SiteConfigError(
            f"no agent instance {instance_id!r} in the site config"
            + (f" (did you mean {hint[0]!r}?)" if hint else f"; it has {known}")
        )


# --- loading --------------------------------------------------------------------------------


def _node_line(root: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


_KNOWN_KEYS = {
    "root": ["hub", "hosts"],
    "hub": list(HubConfig.model_fields),
    "host": [f.alias or n for n, f in HostConfig.model_fields.items()],
    "instance": [f.alias or n for n, f in InstanceConfig.model_fields.items()],
}


def _fix_for(error: Mapping[str, Any]) -> str:
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        level = (
            "root"
            if len(loc) == 1
            else "hub"
            if loc[0] == "hub"
            else "instance"
            if "agent-instances" in loc
            else "host"
        )
        hint = difflib.get_close_matches(key, _KNOWN_KEYS[level], n=1)
        if hint:
            return f"unknown key {key!r}: did you mean {hint[0]!r}?"
        return f"unknown key {key!r}: allowed here are {_KNOWN_KEYS[level]}"
    if error["type"] == "missing":
        return f"missing {loc[-1]!r}: add it"
    return str(error["msg"])


# libyaml's loader when PyYAML has it: every agent process reads the whole site file, so with
# a hundred instances the pure-Python parser's cost, paid by each agent, adds up to seconds.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_site_config(text: str, path: str = "<site config>") -> SiteConfig:
    """Validate a site config's text; errors name the file and the line."""
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise SiteConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SiteConfigError(f"{path}:1: the site config must be a mapping with 'hub' and 'hosts'")
    try:
        return SiteConfig.model_validate(raw)
    except ValidationError as exc:
        # A misspelt key also shows as a missing one: report the misspelling, it is the fix.
        first = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        line = _node_line(yaml.compose(text), first["loc"])
        where = ".".join(str(p) for p in first["loc"])
        raise SiteConfigError(f"{path}:{line}: {where}: {_fix_for(first)}") from None


def load_site_config(path: str | os.PathLike[str]) -> SiteConfig:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SiteConfigError(f"cannot read site config {path}: {exc.strerror}") from None
    site = parse_site_config(text, str(path))
    site.hub._site_dir = Path(path).resolve().parent
    return site


def read_site_config(path: str | os.PathLike[str]) -> tuple[SiteConfig, SiteConfigError | None]:
    """The site config as far as reading state needs it (``status``, ``host list``, ``logs``,
    a client looking for the hub), and its error if it has one.

    A person fixing a host block must still see what runs: with an error outside the hub
    block, this is the hub block and, of each host block, the settings and agent instances
    that are valid on their own (an invalid instance that names its class and id is kept by
    those); the error comes back to be shown as a warning. An error in the hub block, or text
    that is not YAML, is raised: without the hub there is nobody to ask.
    """
    try:
        return load_site_config(path), None
    except SiteConfigError as exc:
        error = exc
    try:
        raw = yaml.load(Path(path).read_text(), Loader=_SAFE_LOADER)
        hub = HubConfig.model_validate((raw or {}).get("hub") or {})
        blocks = (raw or {}).get("hosts") or {}
        hosts = {str(name): _valid_part_of_host(block) for name, block in blocks.items()}
    except (OSError, yaml.YAMLError, ValidationError, AttributeError):
        raise error from None
    site = SiteConfig(hub=hub, hosts=hosts)
    site.hub._site_dir = Path(path).resolve().parent
    return site, error


def read_site_config_or_warn(path: str | os.PathLike[str], command: str) -> SiteConfig:
    """`read_site_config` for ``socs-like COMMAND``: an error in the file is one warning line
    on stderr, and the command goes on with the rest."""
    site, error = read_site_config(path)
    if error is not None:
        print(f"socs-like {command}: warning: {error}; going on without that part", file=sys.stderr)
    return site


def _valid(model: type[BaseModel], raw: Any) -> bool:
    try:
        model.model_validate(raw)
    except ValidationError:
        return False
    return True


def _valid_part_of_host(block: Any) -> HostConfig:
    """What of a host block is valid on its own (see `read_site_config`)."""
    if not isinstance(block, dict):
        return HostConfig()
    instances = []
    for item in block.get("agent-instances") or []:
        if _valid(InstanceConfig, item):
            instances.append(item)
        elif isinstance(item, dict):
            named = {key: item.get(key) for key in ("agent-class", "instance-id")}
            if _valid(InstanceConfig, named):
                instances.append(named)
    settings = {
        key: value
        for key, value in block.items()
        if key != "agent-instances" and _valid(HostConfig, {key: value})
    }
    return HostConfig.model_validate(settings | {"agent-instances": instances})


def find_site_config(explicit: str | None, env: Mapping[str, str] = os.environ) -> Path | None:
    """The site config file to use, by the rule in this module's doc; None if there is none."""
    if explicit:
        return Path(explicit)
    if env.get("OCS_CONFIG_DIR"):
        candidate = Path(env["OCS_CONFIG_DIR"]) / "default.yaml"
        if candidate.exists():
            return candidate
    candidate = Path("site-config.yaml")
    return candidate if candidate.exists() else None


def runtime_dir(site_file: str | os.PathLike[str]) -> Path:
    """Where a site's runtime files go by default (crossbar's folder, the hosts' control
    sockets and logs): ``var/`` beside its site config, whatever the current folder, so that
    two sites never share them and a site finds its own from anywhere."""
    return Path(site_file).resolve().parent / "var"


def host_log_dir(site_file: str | os.PathLike[str], host: HostConfig) -> Path:
    """Where `host`'s processes log: its ``log-dir`` (relative to the site config's folder),
    else ``log/`` in the `runtime_dir`."""
    return Path(site_file).resolve().parent / (host.log_dir or runtime_dir(site_file) / "log")


def site_client_credentials(site_file: str | None = None) -> Credentials | None:
    """This host's client credentials: from ``$SOCS_LIKE_SECRETS``, else from the secrets
    file of the site config found by the usual rule; None when there is none."""
    if os.environ.get(SECRETS_ENV):
        return default_client_credentials()
    path = find_site_config(site_file)
    hub = read_site_config(path)[0].hub if path else HubConfig()
    return default_client_credentials(hub.secrets_path())


def site_http_signing(site_file: str | None = None) -> tuple[str, str] | None:
    """The key and secret that sign HTTP bridge calls, when the site's bridge is ``signed``
    and its secrets file holds them; None otherwise (the bridge takes unsigned calls)."""
    path = find_site_config(site_file)
    hub = read_site_config(path)[0].hub if path else HubConfig()
    if hub.http_bridge != "signed":
        return None
    secrets = load_if_present(hub.secrets_path())
    if secrets is None or not secrets.http_key or not secrets.http_secret:
        return None
    return secrets.http_key, secrets.http_secret


# --- an agent's settings --------------------------------------------------------------------


# A running session's data alone is pushed at most once per this many seconds
# (socs_like/runtime/pushes.py): the dashboard's session panels then lag an op's data by this
# much at most, never its status or messages.
SESSION_DATA_INTERVAL = 5.0


# ``--ca-file`` (agents and the CLI): it comes before $SOCS_LIKE_CA_FILE and the site config's.
def add_site_arguments(parser: argparse.ArgumentParser) -> None:
    """The site options every agent accepts: OCS's names (defaults None = not given), and
    our ``--session-data-interval``."""
    group = parser.add_argument_group("site options")
    group.add_argument(
        "--site-config",
        "--site-file",
        dest="site_file",
        metavar="PATH",
        help="site config file (default: $OCS_CONFIG_DIR/default.yaml, else ./site-config.yaml)",
    )
    group.add_argument("--site-host", help="host block to use (default: $SITE_HOST, else hostname)")
    group.add_argument("--site-hub", help="hub WebSocket URL, e.g. ws://localhost:8001/ws")
    group.add_argument("--site-http", help="hub HTTP bridge URL, e.g. http://localhost:8001/call")
    group.add_argument("--site-realm", help="WAMP realm (default test_realm)")
    group.add_argument("--address-root", help="address root (default observatory)")
    group.add_argument("--instance-id", help="this agent's instance id")
    group.add_argument("--ca-file", metavar="PATH", help=CA_FILE_HELP)
    group.add_argument("--log-dir", help="folder for this agent's log file")
    group.add_argument(
        "--crossbar-timeout",
        type=float,
        help="give up after the hub has been away this many seconds; "
        "0 (the default) waits for ever",
    )
    group.add_argument(
        "--session-data-interval",
        type=float,
        default=SESSION_DATA_INTERVAL,
        metavar="S",
        help="push a running operation's data changes alone at most once per S seconds "
        f"(default {SESSION_DATA_INTERVAL:g}); status changes and messages go out at once",
    )


@dataclass(frozen=True, kw_only=True)
class AgentSettings:
    """Where and as what an agent runs, after the config, environment and flags are merged."""

    instance_id: str
    agent_class: str | None
    hub_url: str
    http_url: str
    realm: str
    address_root: str
    log_dir: str | None
    crossbar_timeout: float
    arguments: list[str]  # the instance's arguments from the site config
    site_host: str | None = None  # the host block the agent runs in, when the config has one
    credentials: Credentials | None = None  # from the secrets file; None: anonymous
    ca_file: str | None = None  # CA bundle that verifies a wss:// hub
    passwords: tuple[PasswordLevel, ...] = ()
    ping_interval: float = 5.0  # the site config's hub.ping_interval
    ping_timeout: float = 5.0
    feed_buffer_times: dict[str, float] = field(default_factory=dict)  # the instance's `feeds`
    session_data_interval: float = SESSION_DATA_INTERVAL  # --session-data-interval
    # who may read the recorded feeds: which roles get packed blocks, whether OCS's lists too
    feed_audience: Audience = EVERYONE

    @property
    def address(self) -> str:
        return f"{self.address_root}.{self.instance_id}"


def agent_settings(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> AgentSettings:
    """Merge the site config, the OCS environment variables and the site flags in `args`."""
    instance_id = args.instance_id or env.get("INSTANCE_ID")
    if not instance_id:
        raise SiteConfigError("no instance id: give --instance-id (or set INSTANCE_ID)")
    path = find_site_config(args.site_file, env)
    site = load_site_config(path) if path else SiteConfig()
    instance: InstanceConfig | None = None
    host: HostConfig = HostConfig()
    host_name: str | None = None
    if site.hosts:
        try:
            host_name, host = site.host(args.site_host, env)
        except SiteConfigError:
            if args.site_host or env.get("SITE_HOST"):
                raise
        instance = next((i for i in host.agent_instances if i.instance_id == instance_id), None)
        if instance is None:
            instance = next(
                (
                    i
                    for h in site.hosts.values()
                    for i in h.agent_instances
                    if i.instance_id == instance_id
                ),
                None,
            )
    timeout = args.crossbar_timeout
    if timeout is None and env.get("CROSSBAR_TIMEOUT"):
        timeout = float(env["CROSSBAR_TIMEOUT"])
    if timeout is None:
        timeout = host.crossbar_timeout if host.crossbar_timeout is not None else 0.0
    hub_url = args.site_hub or env.get("SITE_HUB") or site.hub.wamp_server
    http_url = args.site_http or env.get("SITE_HTTP")
    if not http_url:
        http_url = (
            site.hub.http_url
            if not (args.site_hub or env.get("SITE_HUB"))
            else (HubConfig(wamp_server=hub_url).http_url)
        )
    try:
        secrets = load_if_present(site.hub.secrets_path(env))
        credentials = secrets.agent_credentials(instance_id) if secrets else None
    except SecretsError as exc:
        raise SiteConfigError(str(exc)) from None
    return AgentSettings(
        credentials=credentials,
        ca_file=args.ca_file or site.hub.ca_bundle(env),
        passwords=tuple(site.hub.passwords),
        ping_interval=site.hub.ping_interval,
        ping_timeout=site.hub.ping_timeout,
        instance_id=instance_id,
        agent_class=instance.agent_class if instance else None,
        hub_url=hub_url,
        http_url=http_url,
        realm=args.site_realm or site.hub.wamp_realm,
        address_root=args.address_root or site.hub.address_root,
        log_dir=args.log_dir or host.log_dir,
        crossbar_timeout=timeout,
        session_data_interval=args.session_data_interval,
        feed_audience=Audience.of_hub(site.hub.anonymous, site.hub.legacy is not None),
        arguments=instance.argv if instance else [],
        feed_buffer_times=(
            {name: f.buffer_time for name, f in instance.feeds.items()} if instance else {}
        ),
        site_host=host_name,
    )
