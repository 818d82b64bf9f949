"""Path confinement: is a path handed to us (by a user, an op parameter, the network) one we
may touch? One set of rules for every agent, so a path refused by one is refused by all.

Why two checks:

- :meth:`Roots.check` is **lexical**: it looks at the text only. It is the one to use for paths
  on another host (a DAQ worker over SSH, the DiFX head node), which cannot be resolved here.
- :meth:`Roots.resolve` does the lexical check, then resolves symlinks on this host and checks
  the result again, so a link inside a root that points outside it is refused.

And :func:`check_relative` / :func:`check_name` for paths and names that are relative to a base
the caller owns (an archive's remote layout, one folder or file name).

The rules (the error names the rule that refused the path, in :attr:`PathRefused.rule`):

========================  ================================================================
``type``                  not a string
``empty``                 the empty string (or an empty name)
``nul``                   a NUL byte (C APIs would cut the path there)
``control``               another control character (newlines forge log lines and commands)
``encoding``              not encodable as a file name (a lone surrogate)
``too_long``              longer than ``max_path`` bytes (PATH_MAX is 4096 on Linux)
``name_too_long``         a component longer than ``max_name`` bytes (NAME_MAX is 255)
``dotdot``                a ``..`` component, even one that would stay inside a root
``relative``              a relative path where an absolute one is needed (and no base)
``absolute``              an absolute path where a relative one is needed
``not_normal``            an empty or ``.`` component in a relative path (two spellings of
                          one file would be two keys)
``no_roots``              no roots are configured: every path is refused
``outside_roots``         lexically outside every root
``symlink_escape``        inside a root as written, outside every root once symlinks resolve
========================  ================================================================

Absolute paths are returned normalised (``//``, ``.`` and a trailing ``/`` removed: they name
the same file); ``..`` is refused rather than normalised, because on a real file system
``a/link/..`` is not ``a``.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable

from socs_like.ops import OpFailed

MAX_PATH = 4096
MAX_NAME = 255
_CONTROL = re.compile(r"[\x01-\x1f\x7f]")

__all__ = [
    "MAX_NAME",
    "MAX_PATH",
    "PathRefused",
    "Roots",
    "check_name",
    "check_relative",
]


class PathRefused(OpFailed, ValueError):
    """A path we will not touch; ``rule`` says which rule refused it (see the module doc).

    It is an :class:`~socs_like.ops.OpFailed`, so an op that lets it propagate ends failed
    with this message and no traceback."""

    def __init__(self, rule: str, path: object, detail: str, what: str = "path") -> None:
        super().__init__(f"{what} {path!r} refused ({rule}): {detail}")
        self.rule = rule
        self.path = path
        self.what = what


def _byte_length(path: str, what: str) -> int:
    try:
        return len(os.fsencode(path))
    except UnicodeEncodeError:
        raise PathRefused("encoding", path, "not encodable as a file name", what) from None


def _check_text(path: object, what: str, max_path: int) -> str:
    """Rules every path obeys, whatever it is relative to."""
    if not isinstance(path, str):
        raise PathRefused("type", path, f"must be a string, not {type(path).__name__}", what)
    if not path:
        raise PathRefused("empty", path, "is empty", what)
    if "\0" in path:
        raise PathRefused("nul", path, "contains a NUL byte", what)
    if _CONTROL.search(path):
        raise PathRefused("control", path, "contains a control character", what)
    if _byte_length(path, what) > max_path:
        raise PathRefused("too_long", path, f"is longer than {max_path} bytes", what)
    return path


def _check_components(path: str, parts: Iterable[str], what: str, max_name: int) -> None:
    for part in parts:
        if part == "..":
            raise PathRefused("dotdot", path, "contains a '..' component", what)
        if _byte_length(part, what) > max_name:
            raise PathRefused(
                "name_too_long", path, f"has a component longer than {max_name} bytes", what
            )


def check_name(name: object, what: str = "name", *, max_name: int = MAX_NAME) -> str:
    """``name`` if it is one plain path component (a file or folder name), else
    :class:`PathRefused`. For names that come from the wire and become part of a path."""
    text = _check_text(name, what, MAX_PATH)
    if text in (".", ".."):
        raise PathRefused("dotdot" if text == ".." else "not_normal", text, "is not a name", what)
    if "/" in text:
        raise PathRefused("not_normal", text, "contains '/'", what)
    _check_components(text, (text,), what, max_name)
    return text


def check_relative(
    path: object, what: str = "path", *, max_path: int = MAX_PATH, max_name: int = MAX_NAME
) -> str:
    """``path`` unchanged if it is a normal relative path that stays below its base (the
    caller's base directory, local or remote), else :class:`PathRefused`."""
    text = _check_text(path, what, max_path)
    if text.startswith("/"):
        raise PathRefused("absolute", text, "must be relative to its base", what)
    parts = text.split("/")
    _check_components(text, parts, what, max_name)
    if any(p in ("", ".") for p in parts):
        raise PathRefused("not_normal", text, "has an empty or '.' component", what)
    return text


def _within(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root + "/")


class Roots:
    """The folders an agent may touch, and the checks every path goes through.

    ``roots`` must be absolute (a configuration error otherwise: ``ValueError``). An empty
    list is allowed and refuses every path (rule ``no_roots``), so a forgotten setting fails
    closed. ``option`` names the setting in that error (e.g. ``--file-root``)."""

    def __init__(
        self,
        roots: Iterable[str | os.PathLike[str]],
        *,
        max_path: int = MAX_PATH,
        max_name: int = MAX_NAME,
        option: str = "root",
    ) -> None:
        cleaned: list[str] = []
        for root in roots:
            text = os.fspath(root)
            if not text.startswith("/"):
                raise ValueError(f"{option} {text!r} must be an absolute path")
            cleaned.append(posixpath.normpath(text).replace("//", "/"))
        self.roots: tuple[str, ...] = tuple(dict.fromkeys(cleaned))
        self.max_path = max_path
        self.max_name = max_name
        self.option = option

    def __repr__(self) -> str:
        return f"Roots({list(self.roots)!r})"

    def contains(self, path: str) -> bool:
        """Whether a normalised absolute ``path`` is a root or below one (text only)."""
        return any(_within(path, root) for root in self.roots)

    def check(self, path: object, *, base: str | None = None, what: str = "path") -> str:
        """The normalised absolute path if it lies inside a root, judged by its text alone;
        else :class:`PathRefused`. A relative ``path`` is taken relative to ``base`` (say, the
        login directory on the far host); without ``base`` it is refused."""
        text = _check_text(path, what, self.max_path)
        if not text.startswith("/"):
            if base is None:
                raise PathRefused("relative", text, "must be absolute", what)
            _check_components(text, text.split("/"), what, self.max_name)
            text = posixpath.join(base, text)
        _check_components(text, text.split("/"), what, self.max_name)
        normal = posixpath.normpath(text).replace("//", "/")
        if _byte_length(normal, what) > self.max_path:
            raise PathRefused("too_long", text, f"is longer than {self.max_path} bytes", what)
        if not self.roots:
            raise PathRefused("no_roots", text, f"no {self.option} is configured", what)
        if not self.contains(normal):
            raise PathRefused(
                "outside_roots",
                text,
                f"is outside the allowed roots: {', '.join(self.roots)}",
                what,
            )
        return normal

    def resolve(self, path: object, *, base: str | None = None, what: str = "path") -> str:
        """Like :meth:`check`, then symlinks are resolved on this host and the real path must
        lie inside a root too (roots are resolved the same way, so a root that is itself a
        link works). Returns the real path. Parts that do not exist yet are kept as written,
        so a file about to be created can be checked."""
        lexical = self.check(path, base=base, what=what)
        real = os.path.realpath(lexical)
        if not any(_within(real, os.path.realpath(root)) for root in self.roots):
            raise PathRefused(
                "symlink_escape",
                lexical,
                f"resolves to {real}, outside the allowed roots: {', '.join(self.roots)}",
                what,
            )
        return real
