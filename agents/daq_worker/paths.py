"""Paths on the worker as a caller gives them: ``~`` expanded, then confined (sans-I/O).

SFTP servers do not expand ``~`` (OpenSSH's treats it as a file name), so we expand it
ourselves from the login directory. Only the login user's ``~`` is supported: ``~other`` is
refused rather than guessed. Confinement is the framework's lexical check
(:meth:`socs_like.paths.Roots.check`: the path is on another host, so it cannot be resolved
here); the interface then resolves symlinks on the worker and checks the real path again.
"""

from __future__ import annotations

from collections.abc import Iterable

from socs_like.paths import PathRefused, Roots

from .errors import RequestError


def expand_home(path: str, home: str) -> str:
    """``~`` and ``~/x`` relative to ``home``; anything else unchanged (still to be checked)."""
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    if path.startswith("~"):
        raise RequestError(f"path {path!r}: only ~ of the login user is supported")
    return path


def worker_roots(roots: Iterable[str], home: str) -> Roots:
    """The ``--file-root`` directories (``~`` allowed) as absolute roots on the worker."""
    expanded = [posix_join_home(expand_home(root, home), home) for root in roots]
    return Roots(expanded, option="--file-root")


def posix_join_home(path: str, home: str) -> str:
    """A relative path is relative to the login directory, as in ``ssh host cat x``."""
    return path if path.startswith("/") else f"{home.rstrip('/')}/{path}"


def confine(path: object, home: str, roots: Roots, what: str = "path") -> str:
    """``path`` (``~`` and relative paths allowed) as a normalised absolute path inside
    ``roots``, judged by its text; else ``RequestError`` naming the rule that refused it."""
    if not isinstance(path, str):
        raise RequestError(f"{what} must be a string, not {type(path).__name__}")
    try:
        return roots.check(expand_home(path, home), base=home, what=what)
    except PathRefused as exc:
        raise RequestError(str(exc)) from None
