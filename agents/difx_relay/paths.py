"""Confinement of every path we send to guiServer.

guiServer runs file operations for anyone who connects and builds shell commands from the
paths it is given (`ls ARGS PATH`, `rm ARGS PATH`, ...). So a path is refused before it reaches
the wire unless it is absolute, has no `..` segment, uses only characters that carry no
meaning to a shell (wildcards `* ? [ ]` only where the operation takes a pattern), and lies
inside one of the configured roots. Option strings for `ls`/`rm` are limited to plain flags.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from .errors import LocalProtocolError

_SAFE = re.compile(r"[A-Za-z0-9._/+=,@%~:-]+")
_SAFE_PATTERN = re.compile(r"[A-Za-z0-9._/+=,@%~:*?\[\]-]+")
_FLAGS = re.compile(r"(-{1,2}[A-Za-z0-9][A-Za-z0-9-]*)( -{1,2}[A-Za-z0-9][A-Za-z0-9-]*)*")


class PathPolicy:
    """The allowed roots, and the check every outgoing path goes through."""

    def __init__(self, roots: Iterable[str], option: str = "--allowed-root") -> None:
        self.option = option
        cleaned = []
        for root in roots:
            if not root.startswith("/"):
                raise ValueError(f"allowed root {root!r} must be an absolute path")
            cleaned.append(posixpath.normpath(root))
        self.roots: tuple[str, ...] = tuple(cleaned)

    def check(self, path: str, *, pattern: bool = False) -> str:
        """`path`, normalised, or `LocalProtocolError` saying why it may not be sent."""
        if not isinstance(path, str) or not path:
            raise LocalProtocolError("path must be a non-empty string")
        if not path.startswith("/"):
            raise LocalProtocolError(f"path {path!r} must be absolute")
        if ".." in path.split("/"):
            raise LocalProtocolError(f"path {path!r} contains '..'")
        allowed = _SAFE_PATTERN if pattern else _SAFE
        if not allowed.fullmatch(path):
            what = "wildcards * ? [ ] and " if pattern else ""
            raise LocalProtocolError(
                f"path {path!r} contains characters other than letters, digits, {what}._/+=,@%~:-"
            )
        normal = posixpath.normpath(path)
        if pattern and any(c in posixpath.dirname(normal) for c in "*?["):
            raise LocalProtocolError(f"path {path!r}: wildcards only in the last component")
        if not self.roots:
            raise LocalProtocolError(f"no {self.option} is configured: every path is refused")
        for root in self.roots:
            if normal == root or normal.startswith(root.rstrip("/") + "/"):
                return normal
        raise LocalProtocolError(
            f"path {path!r} is outside the allowed roots ({', '.join(self.roots)})"
        )

    @staticmethod
    def check_flags(args: str) -> str:
        args = args.strip()
        if args and not _FLAGS.fullmatch(args):
            raise LocalProtocolError(f"arguments {args!r}: only plain flags like '-l -t' allowed")
        return args
