"""One worker's state as the monitor sees it, and its forms for session data and the feed.

The ``worker_status`` feed is recorded, so its field names follow OCS's rules (letters, digits
and ``_``, not starting with a digit) and each block keeps a fixed set of fields (-1 where a
reading is unknown): a host's link state (``<host>_reachable``, always known) is one block,
and the readings that only exist when the host answered are another.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from .models import FeedSample


@dataclass(frozen=True, kw_only=True)
class WorkerStatus:
    """One reading of one worker. ``checked_at`` in UNIX s; ``graw_bytes`` in bytes; the
    readings are None when unknown (the host did not answer, or no data router runs)."""

    host: str
    checked_at: float
    state: str  # "ok", "unreachable", "host-key-rejected", "auth-failed" or "error"
    error: str | None = None
    ecc_server_up: bool | None = None
    data_router_up: bool | None = None
    working_dir: str | None = None
    graw_files: int | None = None
    graw_bytes: int | None = None

    @property
    def reachable(self) -> bool:
        return self.state in ("ok", "error")

    @property
    def working_dir_clean(self) -> bool | None:
        return None if self.graw_files is None else self.graw_files == 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reachable"] = self.reachable
        out["working_dir_clean"] = self.working_dir_clean
        return out

    def feed_samples(self) -> list[FeedSample]:
        """Recorded-feed samples for this reading: the link block always, the readings block
        when the host answered."""
        prefix = field_prefix(self.host)
        samples = [
            FeedSample(
                block_name=f"{prefix}_link",
                timestamp=self.checked_at,
                data={f"{prefix}_reachable": int(self.reachable)},
            )
        ]
        if self.state == "ok":
            samples.append(
                FeedSample(
                    block_name=prefix,
                    timestamp=self.checked_at,
                    data={
                        f"{prefix}_ecc_server_up": _number(self.ecc_server_up),
                        f"{prefix}_data_router_up": _number(self.data_router_up),
                        f"{prefix}_working_dir_clean": _number(self.working_dir_clean),
                        f"{prefix}_graw_files": _number(self.graw_files),
                        f"{prefix}_graw_bytes": _number(self.graw_bytes),
                    },
                )
            )
        return samples


def _number(value: bool | int | None) -> int:
    # a recorded block keeps its fields; -1 stands for "unknown" (no data router to ask)
    return -1 if value is None else int(value)


def field_prefix(host: str) -> str:
    """A host alias as the start of an OCS field name: ``daq-1.lab`` → ``daq_1_lab``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", host)
    return name if name and not name[0].isdigit() else f"h_{name}"
