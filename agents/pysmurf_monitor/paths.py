"""Where an announced file goes in its archive, and whether it may be deleted later.

Remote paths are relative to the archive's base directory on the far side:

- archive ``smurf`` (and any archive named by a ``data_file``)::

      <first 5 digits of the file timestamp>/<publisher id>/<action_ts>_<action>/<plots|outputs>/<basename>

  When the sender leaves out ``action`` or ``action_ts``, the missing part is written
  ``no_action`` or ``unknown`` (e.g. ``unknown_no_action``), so such files are grouped in one
  plainly named folder instead of the old ``None_None`` (or a crash).
- archive ``timestreams`` (``g3_file``): the last three components of the local path,
  ``<5 digits>/<stream id>/<file>``.

Every component is checked: non-empty, not ``.`` or ``..``, no ``/``, no NUL or other control
character, so no remote path can escape the base directory. Local paths must be absolute,
normalised, and under one of the configured roots (files outside are not ours to copy and
delete).

Deletability (the old rule is the default): a ``smurf`` file may be deleted after its copy is
verified only if its local path matches ``dated_dir`` (a dated folder such as
``/data/smurf_data/20240803/...``) and its basename matches none of the ``keep`` patterns
(tune, IV, channel-assignment files). Files of other archives are deletable. The old monitor
matched the keep words anywhere in the path; we match the basename, so ``/data/archive/...``
no longer looks like an IV file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

NO_ACTION = "no_action"
UNKNOWN_ACTION_TS = "unknown"
DEFAULT_DATED_DIR = r"^/data/smurf_data/\d{8}/"
DEFAULT_KEEP = (r"iv", r"channel_assignment", r"tune")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PathRejected(ValueError):
    """A path that must not be registered; ``reason`` is a :class:`~.datagrams.Reason` value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def check_component(part: str, what: str) -> str:
    if not part or part in (".", "..") or "/" in part or _CONTROL.search(part):
        raise PathRejected("unsafe_path", f"{what} {part!r} is not a safe path component")
    return part


def check_local_path(path: str, roots: Sequence[str]) -> str:
    """``path`` if it is absolute, normalised and under one of ``roots``."""
    if _CONTROL.search(path) or not path.startswith("/") or os.path.normpath(path) != path:
        raise PathRejected("unsafe_path", f"local path {path!r} is not absolute and normalised")
    for root in roots:
        root = root.rstrip("/") or "/"
        if root == "/" or path.startswith(root + "/"):
            return path
    raise PathRejected("outside_roots", f"local path {path!r} is outside {list(roots)}")


def timecode_prefix(timestamp: float) -> str:
    """The first 5 digits of a UNIX time: the 1e5-second directory it belongs to."""
    if not 1e9 <= timestamp < 1e10:
        raise PathRejected("bad_timestamp", f"file timestamp {timestamp!r} is not a 10-digit time")
    return str(int(timestamp))[:5]


def smurf_remote_path(
    *,
    local_path: str,
    publisher_id: str,
    timestamp: float,
    action: str | None,
    action_ts: str | None,
    plot: bool,
) -> str:
    action_dir = f"{action_ts or UNKNOWN_ACTION_TS}_{action or NO_ACTION}"
    parts = (
        timecode_prefix(timestamp),
        check_component(publisher_id, "publisher id"),
        check_component(action_dir, "action folder"),
        "plots" if plot else "outputs",
        check_component(os.path.basename(local_path), "file name"),
    )
    return "/".join(parts)


def timestream_remote_path(local_path: str) -> str:
    parts = local_path.lstrip("/").split("/")[-3:]
    if len(parts) < 3:
        raise PathRejected("unsafe_path", f"g3 path {local_path!r} has fewer than 3 components")
    return "/".join(check_component(p, "g3 path component") for p in parts)


@dataclass(frozen=True)
class DeletabilityRules:
    """Which files of the ``smurf`` archive may be deleted locally once safely copied."""

    dated_dir: str = DEFAULT_DATED_DIR
    keep: tuple[str, ...] = DEFAULT_KEEP
    archive: str = "smurf"
    _dated: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _keep: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_dated", re.compile(self.dated_dir))
        object.__setattr__(self, "_keep", tuple(re.compile(k, re.IGNORECASE) for k in self.keep))

    def deletable(self, archive_name: str, local_path: str) -> bool:
        if archive_name != self.archive:
            return True
        if not self._dated.search(local_path):
            return False
        name = os.path.basename(local_path)
        return not any(k.search(name) for k in self._keep)
