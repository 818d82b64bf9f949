"""Judge each file of a copied batch by what the remote md5sum said about it.

The rules (failure 3 and 4 of the old agent are what they prevent):
- A file is judged alone: one bad file never fails the others of its batch.
- A file that was never sent (local copy gone, remote path refused, place in the tree taken)
  costs one failed attempt and is not marked copied.
- When md5sum ran, a file is *verified* when its remote digest equals the registered local
  digest; a different digest or no digest at all costs one failed attempt.
- When md5sum could not run (connection refused, timed out, host down) nothing is known about
  the sent files: the batch error is recorded by the caller, and no file is charged an
  attempt, so a weekend outage does not push the whole backlog over the attempt limit.
- Likewise a file missing on the remote after an rsync that broke off (connection lost,
  timeout) is unchecked, not failed; after an rsync that finished (even with per-file errors)
  it is a failed attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .md5sum_output import Md5Listing
from .tree import Placed

if TYPE_CHECKING:
    from socs_like_agents.filedb.queries import BatchFile


class Verdict(StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    NOT_ARRIVED = "not_arrived"
    NOT_SENT = "not_sent"
    UNCHECKED = "unchecked"


@dataclass(frozen=True, kw_only=True)
class FileResult:
    id: int
    verdict: Verdict
    remote_md5sum: str | None
    reason: str = ""

    @property
    def failed_attempt(self) -> bool:
        return self.verdict in (Verdict.MISMATCH, Verdict.NOT_ARRIVED, Verdict.NOT_SENT)

    @property
    def sent(self) -> bool:
        return self.verdict is not Verdict.NOT_SENT

    @property
    def verified(self) -> bool:
        return self.verdict is Verdict.VERIFIED

    @property
    def unchecked(self) -> bool:
        return self.verdict is Verdict.UNCHECKED


def judge_batch(
    batch: list[BatchFile], placed: Placed, listing: Md5Listing | None, *, rsync_finished: bool
) -> list[FileResult]:
    """One result per file of `batch`; `listing` is None when md5sum could not run."""
    results = []
    for f in batch:
        if f.id in placed.refused:
            results.append(
                FileResult(
                    id=f.id,
                    verdict=Verdict.NOT_SENT,
                    remote_md5sum=None,
                    reason=placed.refused[f.id],
                )
            )
        elif listing is None:
            results.append(FileResult(id=f.id, verdict=Verdict.UNCHECKED, remote_md5sum=None))
        else:
            digest = listing.digests.get(f.remote_path)
            if digest is None and not rsync_finished:
                results.append(FileResult(id=f.id, verdict=Verdict.UNCHECKED, remote_md5sum=None))
            elif digest is None:
                results.append(
                    FileResult(
                        id=f.id,
                        verdict=Verdict.NOT_ARRIVED,
                        remote_md5sum=None,
                        reason=f"{f.remote_path} is not on the remote after the copy",
                    )
                )
            elif digest == f.local_md5sum.lower():
                results.append(FileResult(id=f.id, verdict=Verdict.VERIFIED, remote_md5sum=digest))
            else:
                results.append(
                    FileResult(
                        id=f.id,
                        verdict=Verdict.MISMATCH,
                        remote_md5sum=digest,
                        reason=f"remote md5 {digest} differs from local {f.local_md5sum}",
                    )
                )
    return results
