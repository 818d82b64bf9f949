"""``socs-like secrets``: create, check and hand out the site's secrets (`socs_like.secrets`).

Its own module because ``for-host`` reads the site config, which itself reads the secrets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .secrets import (
    HOST_PREFIX,
    ROLES,
    SecretsError,
    add_user,
    host_secrets_text,
    load_secrets,
    new_token,
    write_new_secrets,
    write_private,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="socs-like secrets", description="Create or check the site's secrets file."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="write a new secrets file (mode 0600)")
    init.add_argument("--path", default="secrets.yaml", help="where (default ./secrets.yaml)")
    init.add_argument(
        "--if-missing", action="store_true", help="do nothing when the file exists already"
    )
    check = sub.add_parser("check", help="check a secrets file's permissions and shape")
    check.add_argument("--path", default="secrets.yaml")
    derive = sub.add_parser(
        "derive", help="print the agents: block for a host that must not hold the agent-key"
    )
    derive.add_argument("--path", default="secrets.yaml")
    derive.add_argument("instance_ids", nargs="+")
    for_host = sub.add_parser(
        "for-host",
        help="write one host's secrets file: its agents' secrets and its login (host:NAME), "
        "never the agent key (mode 0600)",
    )
    for_host.add_argument("host", help="the host's block in the site config")
    for_host.add_argument("--site-config", "--site-file", dest="site_config", metavar="PATH")
    for_host.add_argument("--output", help="where (default ./secrets-HOST.yaml)")
    hashed = sub.add_parser(
        "hash-password",
        help="print an argon2 hash of an operation password for hub.passwords (reads stdin)",
    )
    hashed.add_argument("--level", choices=["controller", "admin"], default="admin")
    adding = sub.add_parser(
        "add-user",
        help="add a person's own login (the secret is asked for, or read from stdin)",
    )
    adding.add_argument("--path", default="secrets.yaml")
    adding.add_argument("name")
    adding.add_argument("--role", choices=ROLES, required=True)
    adding.add_argument(
        "--generate", action="store_true", help="make a random secret and print it, once"
    )
    args = parser.parse_args(argv)
    if args.command == "hash-password":
        from .access import hash_password

        password = sys.stdin.readline().rstrip("\n")
        if not password:
            print("socs-like secrets: give the password on stdin", file=sys.stderr)
            return 2
        entry = [{"level": args.level, "hash": hash_password(password)}]
        sys.stdout.write(yaml.safe_dump({"passwords": entry}))
        return 0
    try:
        if args.command == "for-host":
            return _for_host(args.host, args.site_config, args.output)
        path = Path(args.path)
        if args.command == "add-user":
            secret = new_token() if args.generate else _read_secret()
            add_user(path, args.name, args.role, secret)
            print(
                f"added {args.role} {args.name} to {path}; restart the hub for it to take "
                "effect (the hub reads the file when it starts)"
            )
            if args.generate:
                print(f"{args.name}'s secret (shown this once; give it to {args.name}): {secret}")
            return 0
        if args.command == "init":
            if args.if_missing and path.exists():
                load_secrets(path)
                return 0
            write_new_secrets(path)
            print(f"wrote {path} (mode 600); the hub and this host's agents and clients use it")
        elif args.command == "check":
            found = load_secrets(path)
            print(f"{path}: ok, users {sorted(found.users)}")
        else:
            found = load_secrets(path)
            block = {"agents": {i: found.agent_secret(i) for i in args.instance_ids}}
            sys.stdout.write(yaml.safe_dump(block))
    except SecretsError as exc:
        print(f"socs-like secrets: {exc}", file=sys.stderr)
        return 2
    return 0


def _for_host(host: str, site_config: str | None, output: str | None) -> int:
    from .site_config import SiteConfigError, find_site_config, load_site_config

    try:
        path = find_site_config(site_config)
        if path is None:
            raise SiteConfigError(
                "no site config: give --site-config, set OCS_CONFIG_DIR, "
                "or run where site-config.yaml is"
            )
        site = load_site_config(path)
        instance_ids = site.host_agents(host)
    except SiteConfigError as exc:
        print(f"socs-like secrets: {exc}", file=sys.stderr)
        return 2
    site_secrets = site.hub.secrets_path()
    assert site_secrets is not None  # a site config's folder always names one
    out = Path(output or f"secrets-{host}.yaml")
    if out.resolve() == site_secrets.resolve():
        raise SecretsError(f"{out} is the site's own secrets file: write the host's elsewhere")
    text = host_secrets_text(
        load_secrets(site_secrets), host, instance_ids, site.hub.http_bridge == "signed"
    )
    write_private(out, text)
    print(
        f"wrote {out} (mode 600): the secrets of agents {instance_ids} and the login "
        f"{HOST_PREFIX}{host}; copy it to host {host} as secrets.yaml beside the site config"
    )
    return 0


def _read_secret() -> str:
    """A secret from a prompt (twice) on a terminal, else stdin's first line; never argv."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    secret = getpass.getpass("secret: ")
    if getpass.getpass("again: ") != secret:
        raise SecretsError("the two secrets differ")
    return secret
