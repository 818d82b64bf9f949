"""Remote path handling (sans-I/O): ``~`` expansion and confinement to allowed roots.

SFTP servers do not expand ``~`` (OpenSSH's treats it as a file name), so we expand it
ourselves from the login directory. Only the login user's ``~`` is supported: ``~other`` is
refused rather than guessed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from .errors import RequestError


def expand_home(path: str, home: str) -> str:
    """``~`` and ``~/x`` relative to ``home``; relative paths too; the result is normalized."""
    if not path:
        raise RequestError("empty path")
    if "\0" in path:
        raise RequestError(f"path {path!r} contains a NUL byte")
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    elif path.startswith("~"):
        raise RequestError(f"path {path!r}: only ~ of the login user is supported")
    elif not path.startswith("/"):
        path = posixpath.join(home, path)
    return posixpath.normpath(path)


def is_within(path: str, root: str) -> bool:
    """Whether normalized absolute ``path`` is ``root`` or below it."""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root == "/" else root + "/")


def check_within(path: str, roots: Iterable[str], what: str = "path") -> str:
    """``path`` itself when it lies under one of ``roots``, else ``RequestError``."""
    roots = list(roots)
    if not any(is_within(path, root) for root in roots):
        raise RequestError(f"{what} {path} is outside the allowed roots: {', '.join(roots)}")
    return path
