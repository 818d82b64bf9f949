"""HDF5 files of the FileRecorder: the writer (one open file) and the reader.

A file is built under a temporary name with every group and dataset of its `Layout`, put in
SWMR mode (single writer, multiple readers), and only then given its name: a reader never
sees a half-made file. From then on the writer only appends (resize, write) and flushes after
each round, which is what SWMR readers see. Open a file that may still be written with
``h5py.File(path, "r", libver="latest", swmr=True)`` (as `read_file` does); datasets of a
group may briefly differ in length while a round is written, so a reader takes the shortest
(`read_file` does).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from socs_like_agents.recording.intake import Block, Value

from .layout import BlockKey, FieldSpec, Layout, field_name, group_path, key_of

CHUNK = 4096  # samples per HDF5 chunk
FORMAT = "socs_like.file_recorder/1"


def _column(spec: FieldSpec, column: list[Value] | None, n: int) -> np.ndarray[Any, Any]:
    if spec.kind == "float":
        if column is None:
            return np.full(n, np.nan)
        try:
            return np.asarray(column, dtype="f8")  # numbers and bools (the common case)
        except (TypeError, ValueError):
            return np.array([math.nan if v is None else float(v) for v in column], dtype="f8")
    if column is None:
        return np.zeros(n, dtype=spec.dtype)
    return np.array(
        [b"" if v is None else (v if isinstance(v, str) else str(v)).encode() for v in column],
        dtype=spec.dtype,
    )


class H5File:
    """One open file of a fixed layout, appended to."""

    def __init__(self, path: Path, layout: Layout, created: float) -> None:
        self.path = path
        self.layout = layout
        path.parent.mkdir(parents=True, exist_ok=True)
        building = path.with_name(path.name + ".part")
        self._h5 = h5py.File(building, "w", libver="latest")
        self._h5.attrs["format"] = FORMAT
        self._h5.attrs["created"] = created
        for key, spec in layout.blocks.items():
            group = self._h5.create_group(group_path(key))
            group.attrs["agent_address"] = spec.agent_address
            group.attrs["instance_id"], group.attrs["feed_name"], group.attrs["block_name"] = key
            self._dataset(group, "timestamps", "f8")
            data = group.create_group("data")
            for name, field in spec.fields.items():
                self._dataset(data, field_name(name), field.dtype).attrs["field"] = name
        self._h5.swmr_mode = True
        os.rename(building, path)

    @staticmethod
    def _dataset(group: h5py.Group, name: str, dtype: str) -> h5py.Dataset:
        return group.create_dataset(
            name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(CHUNK,)
        )

    def append(self, block: Block) -> None:
        """Append `block` (its layout must fit: `Layout.fits`)."""
        key = key_of(block)
        group = self._h5[group_path(key)]
        n = len(block)
        times = group["timestamps"]
        start = times.shape[0]
        times.resize((start + n,))
        times[start:] = np.asarray(block.timestamps, dtype="f8")
        data = group["data"]
        for name, spec in self.layout.blocks[key].fields.items():
            ds = data[field_name(name)]
            ds.resize((start + n,))
            ds[start:] = _column(spec, block.data.get(name), n)

    def flush(self) -> None:
        self._h5.flush()

    def close(self) -> None:
        self._h5.close()


BlockData = dict[str, Any]  # {"timestamps": [...], "data": {field: [...]}}


def tail_times(path: Path, wanted: Mapping[BlockKey, int]) -> dict[BlockKey, set[float]]:
    """The last `wanted[key]` timestamps of each block of one file (closed or being written)
    that it holds."""
    out: dict[BlockKey, set[float]] = {}
    with h5py.File(path, "r", libver="latest", swmr=True) as h5:
        for key, n in wanted.items():
            group = h5.get(group_path(key))
            if group is not None and n > 0:
                times = group["timestamps"]
                out[key] = set(times[max(0, times.shape[0] - n) :].tolist())
    return out


def read_file(path: Path) -> dict[BlockKey, BlockData]:
    """Every block of one file (closed or being written): timestamps and fields as lists,
    text decoded; a group's datasets cut to their shortest length."""
    out: dict[BlockKey, BlockData] = {}
    with h5py.File(path, "r", libver="latest", swmr=True) as h5:
        groups: list[h5py.Group] = []
        h5.visititems(
            lambda _, obj: (
                groups.append(obj) if isinstance(obj, h5py.Group) and "timestamps" in obj else None
            )
        )
        for group in groups:
            key = (
                str(group.attrs["instance_id"]),
                str(group.attrs["feed_name"]),
                str(group.attrs["block_name"]),
            )
            fields = {str(ds.attrs["field"]): ds for ds in group["data"].values()}
            n = min([group["timestamps"].shape[0], *(ds.shape[0] for ds in fields.values())])
            data = {}
            for name, ds in fields.items():
                values = ds[:n]
                if values.dtype.kind == "S":
                    data[name] = [v.decode() for v in values]
                else:
                    data[name] = values.tolist()
            out[key] = {"timestamps": group["timestamps"][:n].tolist(), "data": data}
    return out


def read_files(paths: Iterable[Path]) -> dict[BlockKey, BlockData]:
    """The blocks of several files, in the order given, joined (a field missing from a file
    contributes None for its samples there)."""
    out: dict[BlockKey, BlockData] = {}
    for path in paths:
        for key, block in read_file(path).items():
            have = out.setdefault(key, {"timestamps": [], "data": {}})
            before = len(have["timestamps"])
            have["timestamps"].extend(block["timestamps"])
            for name in have["data"].keys() | block["data"].keys():
                column = have["data"].setdefault(name, [None] * before)
                column.extend(block["data"].get(name, [None] * len(block["timestamps"])))
    return out
