"""HostManager's settings (socs_like.settings): `socs-like up` gives ``--control`` itself."""

from __future__ import annotations

from pathlib import Path

from socs_like.settings import setting, settings


@settings("HostManager options")
class Options:
    control: Path = setting(help="the Unix socket of socs-like up (it passes this itself)")
