"""Where and how the publisher reaches InfluxDB: OCS's InfluxDBAgent arguments and
credentials, so an OCS site's block for its publisher starts ours unchanged."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Literal

from socs_like.settings import setting, settings

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def flag(text: str) -> bool:
    """A yes/no argument. OCS's publisher reads any non-empty word as yes (``--ssl False``
    turns TLS on); here ``False`` means no, and a word that is neither is refused."""
    word = str(text).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


@settings("InfluxDB server options")
class ServerOptions:
    host: str = setting(default="localhost", help="InfluxDB host (localhost)")
    port: int = setting(default=8086, help="InfluxDB HTTP port (8086)")
    database: str = setting(default="ocs_feeds", help="database, created if missing (ocs_feeds)")
    protocol: Literal["line", "json"] = setting(
        default="line",
        help="taken as OCS's publisher takes it; the points stored are the same either way "
        "(this publisher always sends line protocol, times in microseconds)",
    )
    ssl: bool = setting(default=False, parse=flag, help="true: https instead of http (false)")
    verify_ssl: bool = setting(
        default=False,
        parse=flag,
        help="true: check the server's certificate with --ssl (false, as OCS's publisher)",
    )
    gzip: bool = setting(
        default=False, parse=flag, help="true: compress each write with gzip (false)"
    )


@dataclass(frozen=True)
class Server:
    url: str
    database: str
    verify: bool
    gzip: bool
    auth: tuple[str, str] | None


def server_from(args: ServerOptions, environ: dict[str, str] | None = None) -> Server:
    """The server the arguments name, with credentials from the environment as OCS reads
    them: ``INFLUXDB_USERNAME``/``INFLUXDB_PASSWORD``, else the files named by
    ``INFLUXDB_USERNAME_FILE``/``INFLUXDB_PASSWORD_FILE`` (compose secrets)."""
    env = os.environ if environ is None else environ
    scheme = "https" if args.ssl else "http"
    return Server(
        url=f"{scheme}://{args.host}:{args.port}",
        database=args.database,
        verify=args.ssl and args.verify_ssl,
        gzip=args.gzip,
        auth=_credentials(env),
    )


def _credentials(env: os._Environ[str] | dict[str, str]) -> tuple[str, str] | None:
    user = env.get("INFLUXDB_USERNAME") or _read(env.get("INFLUXDB_USERNAME_FILE"))
    if not user:
        return None
    password = env.get("INFLUXDB_PASSWORD") or _read(env.get("INFLUXDB_PASSWORD_FILE")) or ""
    return user, password


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().rstrip("\r\n")
