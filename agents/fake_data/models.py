"""What FakeData puts in session data and on its feed (typed, so a reader can rely on them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    # Lists, or one-dimensional float64 arrays, which the feed packs as they are.
    Samples = Sequence[float] | npt.NDArray[np.float64]


@dataclass(frozen=True)
class AcqData:
    """Session data of ``acq``, renewed with each published block."""

    fields: dict[str, dict[str, float]]  # channel name -> {"T": its latest value}
    timestamp: float  # UNIX time (s) when the latest block was made
    samples_sent: int  # samples per channel published since the start
    # Samples never made: the agent fell more than MAX_BEHIND s behind the rate asked for
    # (it makes what it can, in real time).
    samples_skipped: int
    feed_dropped: int  # records the feed's bounded buffer dropped (the hub could not keep up)
    feed_drop_rate: float  # of those, per second over the last second

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its deep copy is made again when the session is encoded.
        return {
            "fields": self.fields,
            "timestamp": self.timestamp,
            "samples_sent": self.samples_sent,
            "samples_skipped": self.samples_skipped,
            "feed_dropped": self.feed_dropped,
            "feed_drop_rate": self.feed_drop_rate,
        }


@dataclass(frozen=True)
class TemperatureBlock:
    """One message of the recorded feed ``false_temperatures``."""

    timestamps: Samples  # UNIX time (s) of each sample
    data: dict[str, Samples]  # channel name -> one value (arbitrary units) per timestamp
    block_name: str = "temps"

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every sample, one Python call per float,
        # which cost more than making the samples (the feed copies the lists it keeps).
        return {"timestamps": self.timestamps, "data": self.data, "block_name": self.block_name}


@dataclass(frozen=True)
class DelayData:
    """Session data of ``delay_task``."""

    requested_delay: float  # seconds asked for

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FillData:
    """Session data of ``fill_session``: text of the size asked for, to try size limits."""

    blob: str  # "x" repeated `size` times
    pi: float  # a float, so a reader sees one survive the trip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
