"""The names of what the archive step writes, and which runs and bundles the files of the
compressed area belong to. Pure functions: the pipeline lists, asks the database and removes.

A run is packed as ``<run>.tar.zst`` in the compressed area; runs go to the archive in
bundles, ``bundles/<bundle>`` there and ``<bundle>`` in the archive target. Each file is
written under its partial name (``.<name>.part``: hidden, in the folder where it ends) and
renamed once complete and checked, so nobody reads half of one; a pass killed mid-write leaves
only a partial file, which the next attempt at the same thing overwrites (it has the same
name) or the cleaning removes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PACKED = ".tar.zst"
BUNDLES = "bundles"  # the compressed area's folder for bundles
_PARTIAL = ".part"


def packed(run: str) -> str:
    return run + PACKED


def partial(name: str) -> str:
    """Where ``name`` is written until it is complete."""
    return f".{name}{_PARTIAL}"


def bundle_name(runs: Iterable[str]) -> str:
    """The bundle of exactly these runs: the same runs, the same name, whoever makes it and
    whenever (a retry replaces what an earlier attempt left), and no two sets alike."""
    names = sorted(runs)
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    return f"bundle-{names[0]}-{len(names)}-{digest}.tar"


def found(paths: Iterable[str]) -> tuple[set[str], set[str]]:
    """(runs, bundles) that files of the compressed area belong to, partial files included;
    ``paths`` are relative to the area. Files of other names are not the pipeline's."""
    runs: set[str] = set()
    bundles: set[str] = set()
    for path in paths:
        folder, _, name = path.rpartition("/")
        if name.startswith(".") and name.endswith(_PARTIAL):
            name = name[1 : -len(_PARTIAL)]
        if not folder and name.endswith(PACKED) and name != PACKED:
            runs.add(name.removesuffix(PACKED))
        elif folder == BUNDLES and name.startswith("bundle-") and name.endswith(".tar"):
            bundles.add(name)
    return runs, bundles
