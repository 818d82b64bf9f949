"""Statistics of a finished file (sans-I/O apart from reading the file).

For each parameter dataset: mode, mean, std, min and max of the values, and the same of the
intervals between samples under ``Interval_<device>``, keyed by the window's start (UTC epoch
seconds, whole) as the original's ``ACNETparameterStats`` table. The mode is the most
frequent value (the smallest of equally frequent ones); std is the population std (numpy's
default, as the original's pandas-free numpy code used). A device with one sample has no
interval statistics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .errors import RequestError
from .protocol import Floats

STATS = ("mode", "mean", "std", "min", "max")
INTERVAL_PREFIX = "Interval_"


@dataclass(frozen=True, kw_only=True)
class StatRow:
    epoch: int
    param: str
    stat: str
    value: float


@dataclass(frozen=True, kw_only=True)
class FileStats:
    file_name: str
    window_start: int
    rows: list[StatRow]

    @property
    def params(self) -> list[str]:
        return list(dict.fromkeys(r.param for r in self.rows))


def describe(values: Floats) -> dict[str, float]:
    uniques, counts = np.unique(values, return_counts=True)
    return {
        "mode": float(uniques[np.argmax(counts)]),
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }


def file_stats(path: Path) -> FileStats:
    """The statistics of a parameter file; ``RequestError`` for a file that is not one."""
    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise RequestError(f"{path} is not a readable HDF5 file ({exc})") from None
    with h5:
        if h5.attrs.get("kind") != "param" or "window_start" not in h5.attrs:
            raise RequestError(f"{path.name} is not a parameter file written by the grabber")
        epoch = int(h5.attrs["window_start"])
        rows: list[StatRow] = []
        for name in h5:
            data = h5[name][()]
            if (
                data.ndim != 2
                or data.shape[1] != 2
                or json.loads(h5[name].attrs["columns"])[1] != "value"
            ):
                raise RequestError(f"{path.name}: dataset {name} is not (utc_seconds, value)")
            series = {name: data[:, 1]}
            if len(data) > 1:
                series[INTERVAL_PREFIX + name] = np.diff(data[:, 0])
            for param, values in series.items():
                for stat, value in describe(values).items():
                    rows.append(StatRow(epoch=epoch, param=param, stat=stat, value=value))
    return FileStats(file_name=path.name, window_start=epoch, rows=rows)
