"""The temporary tree of symlinks that one rsync copies.

A remote path is relative to the archive's base dir and must stay inside it: the shared
confinement rules (`socs_like.paths.check_relative`: no absolute path, no `.`/`..`, no empty
component, no NUL or control character, no over-long name). The tree mirrors the remote
layout with one symlink per file (`rsync -L` copies what they point at), so a whole batch
goes in one rsync.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from socs_like.paths import PathRefused, check_relative


@dataclass(frozen=True)
class Placed:
    """Files linked into the tree, and those refused with a reason (by file id)."""

    linked: dict[int, str]
    refused: dict[int, str]


def build_symlink_tree(root: str, files: Iterable[tuple[int, str, str]]) -> Placed:
    """Link each `(id, local_path, remote_path)` at `root/remote_path`.

    A file whose local copy is gone, whose remote path is refused, or whose place in the tree
    is already taken (two files with one remote path, or a file where another needs a
    folder) is refused alone; the rest of the batch goes ahead.
    """
    linked: dict[int, str] = {}
    refused: dict[int, str] = {}
    taken: dict[str, int] = {}
    for file_id, local_path, remote_path in files:
        try:
            check_relative(remote_path, "remote path")
        except PathRefused as e:
            refused[file_id] = str(e)
            continue
        if remote_path in taken:
            refused[file_id] = (
                f"remote path {remote_path!r} is also the target of file {taken[remote_path]} "
                "in this batch"
            )
            continue
        if not os.path.isfile(local_path):
            refused[file_id] = f"local file {local_path} is missing"
            continue
        target = os.path.join(root, remote_path)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.path.abspath(local_path), target)
        except OSError as e:
            refused[file_id] = f"cannot place {remote_path!r} in the batch tree: {e.strerror}"
            continue
        taken[remote_path] = file_id
        linked[file_id] = remote_path
    return Placed(linked, refused)
