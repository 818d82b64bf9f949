"""Planning and reporting the end-of-run move of ``.graw`` files (sans-I/O).

The move is a set of renames from the data router's directory into the run folder. A rename
is atomic and, over OpenSSH's SFTP, never replaces an existing file, so the state on disk is
the journal: after a crash, each file is either still in the source (to move) or already in
the run folder (moved earlier). Re-running the same plan therefore finishes the job.

A name present in both places is a **clash**: a different file already holds that name in the
run folder. It is never overwritten; the source stays where it is and the clash is reported.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .models import OrganizeProgress

GRAW_SUFFIX = ".graw"


def is_graw(name: str) -> bool:
    # a bare ".graw" is a hidden file, not a data file
    return name.endswith(GRAW_SUFFIX) and len(name) > len(GRAW_SUFFIX) and "/" not in name


@dataclass(frozen=True, kw_only=True)
class OrganizePlan:
    source_dir: str
    destination: str
    to_move: tuple[str, ...]
    already_there: tuple[str, ...]
    clashes: tuple[str, ...]


def plan_organize(
    *, source_dir: str, destination: str, source_names: Iterable[str], dest_names: Iterable[str]
) -> OrganizePlan:
    """What to move, given the names in the source directory and in the run folder."""
    source = {n for n in source_names if is_graw(n)}
    dest = {n for n in dest_names if is_graw(n)}
    return OrganizePlan(
        source_dir=source_dir,
        destination=destination,
        to_move=tuple(sorted(source - dest)),
        already_there=tuple(sorted(dest - source)),
        clashes=tuple(sorted(source & dest)),
    )


def same_file_pairs(stat_lines: Iterable[str], names: Iterable[str]) -> list[str]:
    """Which ``names`` are one file under both names, given ``stat -L -c %d:%i`` of each
    name's source then destination, in order.

    OpenSSH's SFTP server moves a file by link() then unlink(): a server killed between the
    two leaves the file in the raw area and in the run folder at once.
    """
    ids = list(stat_lines)
    return [
        name for i, name in enumerate(names) if ids[2 * i : 2 * i + 1] == ids[2 * i + 1 : 2 * i + 2]
    ]


@dataclass(kw_only=True)
class TransferReport:
    """Exactly what happened to each file of a move (organize) or copy (backup).

    ``done`` files were moved/copied by this call; ``already_there`` were in place before it
    (an earlier, interrupted call); ``clashes`` were left alone because a different file holds
    the name; ``failed`` maps a name to its error; ``unconfirmed`` were in flight when the
    connection was lost (the next call finds each in one place or the other).
    """

    action: str
    source_dir: str
    destination: str
    done: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unconfirmed: list[str] = field(default_factory=list)
    interrupted: str | None = None

    @classmethod
    def from_plan(cls, plan: OrganizePlan) -> TransferReport:
        return cls(
            action="moved",
            source_dir=plan.source_dir,
            destination=plan.destination,
            already_there=list(plan.already_there),
            clashes=list(plan.clashes),
        )

    @property
    def complete(self) -> bool:
        return not (self.clashes or self.failed or self.unconfirmed or self.interrupted)

    def progress(self, *, to_move: int, elapsed: float) -> OrganizeProgress:
        """Where a move stands while it runs (``to_move``: the plan's count)."""
        return OrganizeProgress(
            destination=self.destination,
            to_move=to_move,
            moved=len(self.done),
            failed=len(self.failed),
            already_there=len(self.already_there),
            clashes=len(self.clashes),
            elapsed=round(elapsed, 3),
        )

    def destination_of(self, name: str) -> str:
        return posixpath.join(self.destination, name)

    def summary(self) -> str:
        parts = [f"{len(self.done)} {self.action} to {self.destination}"]
        if self.already_there:
            parts.append(f"{len(self.already_there)} already there")
        if self.clashes:
            parts.append(f"{len(self.clashes)} left in place (name taken: {self.clashes[0]}...)")
        if self.failed:
            name, error = next(iter(self.failed.items()))
            parts.append(f"{len(self.failed)} failed ({name}: {error})")
        if self.unconfirmed:
            parts.append(f"{len(self.unconfirmed)} unconfirmed")
        if self.interrupted:
            parts.append(f"interrupted: {self.interrupted}; run it again to finish")
        return "; ".join(parts)

    def to_dict(self, max_names: int | None = None) -> dict[str, Any]:
        """JSON-safe form; lists longer than ``max_names`` keep their head and a count."""

        def names(items: list[Any]) -> list[Any]:
            return items if max_names is None else items[:max_names]

        counts = {
            "done": len(self.done),
            "already_there": len(self.already_there),
            "clashes": len(self.clashes),
            "failed": len(self.failed),
            "unconfirmed": len(self.unconfirmed),
        }
        out: dict[str, Any] = {
            "action": self.action,
            "source_dir": self.source_dir,
            "destination": self.destination,
            "complete": self.complete,
            "counts": counts,
            "done": names(self.done),
            "already_there": names(self.already_there),
            "clashes": names(self.clashes),
            "failed": dict(names(list(self.failed.items()))),
            "unconfirmed": names(self.unconfirmed),
            "interrupted": self.interrupted,
        }
        if max_names is not None:
            out["truncated"] = any(v > max_names for v in counts.values())
        return out
