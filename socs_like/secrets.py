"""The site's secrets: a YAML file of its own, never in the site config, never logged.

Where it is found, first match wins: ``$SOCS_LIKE_SECRETS``, then the site config's
``hub.secrets_file`` (relative to the site config's folder), then ``secrets.yaml`` beside the
site config. The file must be readable by its owner only; anything looser is refused with one
line that says how to fix it.

What it holds:

- ``agent-key``: the hub derives each agent instance's WAMP-CRA secret from it
  (HMAC-SHA256 of the instance id), so an agent authenticates as ``agent:<instance-id>`` and the
  hub lets it register and publish only under its own address. A host whose agents must not
  share the key gets only its instances' derived secrets (``agents:``, see ``secrets derive``).
  Each host of the site also has a login derived from it, ``host:<name>`` (role
  ``controller``): ``secrets for-host NAME`` writes a host's whole file, its agents' secrets
  and that login, so every process of the host logs in without the agent key.
- ``users``: people and scripts, each with a role (``observer``, ``controller``, ``admin``),
  a secret and a salt (WAMP-CRA with PBKDF2-salted secrets: the secret itself never crosses
  the wire).
- ``client-user``: the user this host's clients (the CLI, scripts, tests) authenticate as.
- ``http-bridge``: the key and secret that sign requests to the hub's HTTP bridge.

``socs-like secrets init`` writes a fresh file (mode 0600); the hub writes one on its first
start when there is none, so a new site is authenticated out of the box.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as _random
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SECRETS_ENV = "SOCS_LIKE_SECRETS"
CA_ENV = "SOCS_LIKE_CA_FILE"
CA_FILE_HELP = (
    "CA bundle that verifies a wss:// hub "
    "(default: $SOCS_LIKE_CA_FILE, else the site config's hub.ca_file)"
)
ROLES = ("observer", "controller", "admin")
AGENT_PREFIX = "agent:"  # agents' authids; no user may be named so
HOST_PREFIX = "host:"  # hosts' logins (derived from the agent key); no user may be named so
HOST_ROLE = "controller"  # what a host's login may do: as much as the host's agents may
# PBKDF2 rounds for WAMP-CRA's salted secrets: both ends derive once per connection.
CRA_ITERATIONS = 1000
CRA_KEYLEN = 32


class SecretsError(Exception):
    """The secrets file cannot be used; one line for a person, never the secret itself."""


@dataclass(frozen=True)
class Credentials:
    """Who a WAMP session authenticates as (WAMP-CRA)."""

    authid: str
    secret: str = field(repr=False)

    def component_auth(self) -> dict[str, Any]:
        """The ``authentication`` argument of an autobahn `Component`."""
        return {"wampcra": {"authid": self.authid, "secret": self.secret}}

    def signature(self, extra: Mapping[str, Any]) -> str:
        """The WAMP-CRA answer to a CHALLENGE's extra (salted when the hub says so)."""
        from autobahn.wamp import auth

        key: str | bytes = self.secret
        if "salt" in extra:
            key = auth.derive_key(self.secret, extra["salt"], extra["iterations"], extra["keylen"])
        return str(auth.compute_wcs(key, extra["challenge"]).decode("ascii"))


@dataclass(frozen=True)
class User:
    role: str
    secret: str = field(repr=False)
    salt: str


@dataclass(frozen=True)
class Secrets:
    path: Path
    agent_key: str | None = field(repr=False)
    agents: dict[str, str] = field(repr=False)  # instance id -> derived secret
    users: dict[str, User]
    client_user: str | None
    http_key: str | None
    http_secret: str | None = field(repr=False)

    def agent_secret(self, instance_id: str) -> str:
        if instance_id in self.agents:
            return self.agents[instance_id]
        if self.agent_key is None:
            raise SecretsError(
                f"{self.path} has neither agent-key nor a secret for agent {instance_id!r}"
            )
        return derive_agent_secret(self.agent_key, instance_id)

    def decoy_salt(self, name: str) -> str:
        """A salt for a user `name` nobody has: shaped like a real one and the same at every
        try (a salt that changed would tell that nobody has that name)."""
        key = self.agent_key or "".join(sorted(u.secret for u in self.users.values()))
        return hmac.new(key.encode(), f"decoy {name}".encode(), hashlib.sha256).hexdigest()[:16]

    def agent_credentials(self, instance_id: str) -> Credentials:
        return Credentials(f"agent:{instance_id}", self.agent_secret(instance_id))

    def host_login(self, host: str) -> User:
        """Host `host`'s login (``host:<host>``), derived from the agent key."""
        if self.agent_key is None:
            raise SecretsError(f"{self.path} has no agent-key to derive host {host!r}'s login")
        return User(HOST_ROLE, derive_host_secret(self.agent_key, host), host_salt(host))

    def client_credentials(self, user: str | None = None) -> Credentials | None:
        """User `user`'s credentials (default: the client user); ``agent:<id>`` is that agent
        itself (a container that holds one agent's secret and nothing else asks as it)."""
        name = user or self.client_user
        if name is None:
            return None
        if name.startswith(AGENT_PREFIX):
            return self.agent_credentials(name.removeprefix(AGENT_PREFIX))
        if name not in self.users:
            raise SecretsError(f"{self.path} has no user {name!r}; it has {sorted(self.users)}")
        return Credentials(name, self.users[name].secret)


def derive_agent_secret(agent_key: str, instance_id: str) -> str:
    digest = hmac.new(agent_key.encode(), instance_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def agent_salt(instance_id: str) -> str:
    return hashlib.sha256(f"socs_like agent {instance_id}".encode()).hexdigest()[:16]


def derive_host_secret(agent_key: str, host: str) -> str:
    # No instance id has a space (WAMP URIs cannot, and the hub refuses such an agent id), so
    # no agent's secret is a host's.
    return derive_agent_secret(agent_key, f"host {host}")


def host_salt(host: str) -> str:
    return hashlib.sha256(f"socs_like host {host}".encode()).hexdigest()[:16]


def new_token() -> str:
    return _random.token_urlsafe(32)


def new_secrets_text() -> str:
    users = {
        name: {"role": name, "secret": new_token(), "salt": _random.token_hex(8)} for name in ROLES
    }
    body = {
        "agent-key": new_token(),
        "users": users,
        "client-user": "controller",
        "http-bridge": {"key": "socs-like", "secret": new_token()},
    }
    return (
        "# socs_like secrets: readable by its owner only (chmod 600); never commit or share it.\n"
        "# Rotate one by replacing its value and restarting the hub and the agents.\n"
        + yaml.safe_dump(body, sort_keys=False)
    )


def write_new_secrets(path: Path) -> None:
    """Create a fresh secrets file, mode 0600; refuse to overwrite one, and say in one line
    when its folder cannot be written (a container's read-only ``/config``)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretsError(f"{path} exists already; remove it first to make new secrets") from None
    except OSError as exc:
        raise SecretsError(
            f"there is no secrets file {path}, and none can be written there "
            f"({exc.strerror}): make one with `socs-like secrets init` where it may be "
            f"written and give it to this process (as {path}, or in ${SECRETS_ENV})"
        ) from None
    with os.fdopen(fd, "w") as out:
        out.write(new_secrets_text())


MIN_SECRET_LENGTH = 16


def weakness(secret: str, name: str) -> str | None:
    """Why a secret a person chose for user `name` is too easy to guess, or None.

    The hub holds up guessing (`socs_like.throttle`), but a secret from the top of every
    guessing list falls anyway: long, not one piece repeated, not a few characters over
    and over, and not the user's own name."""
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if any(secret == secret[:k] * (len(secret) // k) for k in range(1, len(secret) // 2 + 1)):
        return "repeats itself"
    if len(set(secret)) < 8:
        return "has fewer than 8 different characters"
    if len(name) >= 3 and name.lower() in secret.lower():
        return "contains the user name"
    return None


def add_user(path: Path, name: str, role: str, secret: str) -> None:
    """Add a user (a fresh salt) to the secrets file at `path`, which stays mode 0600.

    The hub reads the file when it starts: the new user can log in after a hub restart.
    A weak secret is refused (`weakness`).
    """
    load_secrets(path)  # permissions and shape first: refuse to touch a broken file
    if not name or name.startswith((AGENT_PREFIX, HOST_PREFIX)) or any(c.isspace() for c in name):
        raise SecretsError(f"{name!r} cannot be a user name (no spaces, not agent:... or host:...)")
    if role not in ROLES:
        raise SecretsError(f"role {role!r} is not one of {list(ROLES)}")
    text = path.read_text()
    raw = yaml.safe_load(text)
    users = raw.setdefault("users", None) or {}
    if name in users:
        raise SecretsError(f"{path} has a user {name!r} already; edit its secret in the file")
    if (why := weakness(secret, name)) is not None:
        raise SecretsError(
            f"the secret {why}: use four or more random words, or --generate for a random secret"
        )
    users[name] = {"role": role, "secret": secret, "salt": _random.token_hex(8)}
    raw["users"] = users
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    write_private(path, header + yaml.safe_dump(raw, sort_keys=False))


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, mode 0600: written beside it and moved over it, so it is never
    readable by others, never half-written."""
    fresh = path.with_name(f".{path.name}.{_random.token_hex(4)}")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(fresh, path)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise


def host_secrets_text(
    secrets: Secrets, host: str, instance_ids: list[str], http_bridge: bool = False
) -> str:
    """The secrets file of host `host` of the site whose `secrets` these are: the derived
    secrets of `instance_ids` (the agents it runs) and its own login as its client user; the
    HTTP bridge's key when `http_bridge`. Never the agent key, never a person's login."""
    login = secrets.host_login(host)
    body: dict[str, Any] = {
        "agents": {i: secrets.agent_secret(i) for i in instance_ids},
        "users": {
            f"{HOST_PREFIX}{host}": {"role": login.role, "secret": login.secret, "salt": login.salt}
        },
        "client-user": f"{HOST_PREFIX}{host}",
    }
    if http_bridge and secrets.http_key and secrets.http_secret:
        body["http-bridge"] = {"key": secrets.http_key, "secret": secrets.http_secret}
    return (
        f"# socs_like secrets of host {host} only: its agents' own secrets and its login\n"
        f"# ({HOST_PREFIX}{host}). Keep it as secrets.yaml beside the site config, mode 600.\n"
        f"# Made by `socs-like secrets for-host {host}` on the hub's host; run it again after\n"
        "# adding an agent to this host.\n" + yaml.safe_dump(body, sort_keys=False)
    )


def login_secrets_text(secrets: Secrets, login: str, what: str) -> str:
    """A secrets file holding one login of `secrets` and nothing else: ``agent:<id>`` (that
    agent's derived secret) or a user's, as its client user. `what` says whose it is in the
    file's header. Never the agent key, never another login."""
    body: dict[str, Any]
    if login.startswith(AGENT_PREFIX):
        instance_id = login.removeprefix(AGENT_PREFIX)
        body = {"agents": {instance_id: secrets.agent_secret(instance_id)}}
    elif login in secrets.users:
        user = secrets.users[login]
        body = {"users": {login: {"role": user.role, "secret": user.secret, "salt": user.salt}}}
    else:
        raise SecretsError(f"{secrets.path} has no user {login!r}; it has {sorted(secrets.users)}")
    return (
        f"# socs_like secrets of {what} only: the login {login}, nothing else.\n"
        f"# Made from {secrets.path.name}; readable by its owner only (mode 600).\n"
        + yaml.safe_dump({**body, "client-user": login}, sort_keys=False)
    )


def check_permissions(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(
            f"secrets file {path} is readable by others (mode {stat.S_IMODE(mode):o}): "
            f"run chmod 600 {path}"
        )


def load_secrets(path: str | os.PathLike[str]) -> Secrets:
    path = Path(path)
    try:
        check_permissions(path)
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SecretsError(f"cannot read secrets file {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise SecretsError(f"secrets file {path} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise SecretsError(f"secrets file {path} must be a mapping (see socs-like secrets init)")
    try:
        users = {
            str(name): User(str(u["role"]), str(u["secret"]), str(u["salt"]))
            for name, u in (raw.get("users") or {}).items()
        }
        bridge = raw.get("http-bridge") or {}
        agents = {str(k): str(v) for k, v in (raw.get("agents") or {}).items()}
    except (KeyError, TypeError, AttributeError):
        raise SecretsError(
            f"secrets file {path}: every user needs role, secret and salt "
            "(see socs-like secrets init)"
        ) from None
    for name, user in users.items():
        if user.role not in ROLES:
            raise SecretsError(
                f"secrets file {path}: user {name!r} has role {user.role!r}, "
                f"not one of {list(ROLES)}"
            )
    return Secrets(
        path=path,
        agent_key=str(raw["agent-key"]) if raw.get("agent-key") else None,
        agents=agents,
        users=users,
        client_user=str(raw["client-user"]) if raw.get("client-user") else None,
        http_key=str(bridge["key"]) if bridge.get("key") else None,
        http_secret=str(bridge["secret"]) if bridge.get("secret") else None,
    )


def find_secrets_file(
    site_dir: Path | None, secrets_file: str | None = None, env: Mapping[str, str] = os.environ
) -> Path | None:
    """The secrets file by the rule in this module's doc (the file need not exist yet)."""
    if env.get(SECRETS_ENV):
        return Path(env[SECRETS_ENV])
    if secrets_file:
        return (site_dir or Path.cwd()) / secrets_file
    if site_dir is not None:
        return site_dir / "secrets.yaml"
    return None


def load_if_present(path: Path | None) -> Secrets | None:
    """The secrets at `path`; None when there is no file (a site without authentication)."""
    if path is None or not path.exists():
        return None
    return load_secrets(path)


# --- what clients use -----------------------------------------------------------------------


def default_client_credentials(path: Path | None = None) -> Credentials | None:
    """This host's client user from the secrets file at `path` (default: the one named by
    ``$SOCS_LIKE_SECRETS``); None when there is no such file (an unauthenticated hub)."""
    found = load_if_present(path or find_secrets_file(None))
    return found.client_credentials() if found else None


def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """TLS for a ``wss://``/``https://`` hub, verified against `ca_file`, else
    ``$SOCS_LIKE_CA_FILE``, else the system's CAs (a site config's comes in through
    `ca_file`: see `socs_like.site_config.HubConfig.ca_bundle`)."""
    return ssl.create_default_context(cafile=ca_file or os.environ.get(CA_ENV) or None)
