"""Where an announced file goes in its archive, and whether it may be deleted later.

Remote paths are relative to the archive's base directory on the far side:

- archive ``smurf`` (and any archive named by a ``data_file``)::

      <5 digits of the file timestamp>/<publisher id>/<action_ts>_<action>/<plots|outputs>/<name>

  When the sender leaves out ``action`` or ``action_ts``, the missing part is written
  ``no_action`` or ``unknown`` (e.g. ``unknown_no_action``), so such files are grouped in one
  plainly named folder instead of the old ``None_None`` (or a crash).
- archive ``timestreams`` (``g3_file``): the last three components of the local path,
  ``<5 digits>/<stream id>/<file>``.

Every component is checked with the framework's :func:`socs_like.paths.check_name` (non-empty,
not ``.`` or ``..``, no ``/``, no NUL or other control character, not over 255 bytes), so no
remote path can escape the base directory. Local paths go through
:meth:`socs_like.paths.Roots.check`: absolute, no ``..``, under one of the configured roots
(files outside are not ours to copy and delete); they are registered normalised.

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
from dataclasses import dataclass, field

from socs_like.paths import PathRefused, Roots, check_name
from socs_like_agents.pysmurf_monitor.errors import PathRejected

NO_ACTION = "no_action"
UNKNOWN_ACTION_TS = "unknown"
DEFAULT_DATED_DIR = r"^/data/smurf_data/\d{8}/"
DEFAULT_KEEP = (r"iv", r"channel_assignment", r"tune")


def _rejected(exc: PathRefused) -> PathRejected:
    reason = "outside_roots" if exc.rule in ("outside_roots", "no_roots") else "unsafe_path"
    return PathRejected(reason, str(exc))


def check_component(part: str, what: str) -> str:
    """``part`` if it is one safe path component, else :class:`PathRejected`."""
    try:
        return check_name(part, what)
    except PathRefused as exc:
        raise _rejected(exc) from None


def check_local_path(path: str, roots: Roots) -> str:
    """``path`` normalised, if it is absolute and under one of ``roots``."""
    try:
        return roots.check(path, what="local path")
    except PathRefused as exc:
        raise _rejected(exc) from None


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
