"""What an HDF5 file of the FileRecorder holds, and how a block fits it; no file I/O.

One group per agent feed and block: ``/<instance-id>/<feed>/<block>``, with a ``timestamps``
dataset (float64, UNIX s) and a ``data`` group holding one dataset per field, all of one
length. A field is ``float`` (float64; ints and bools as numbers, null as NaN) or ``text``
(fixed-width UTF-8 bytes, null as empty), decided by the first values seen.

A file's layout is fixed when it is opened (HDF5 readers in SWMR mode need that: no group or
dataset may appear later). A block that does not fit the open file's layout - a new feed or
block, a new field, text in a float field, text longer than its field's width - makes the
recorder close that file and open a new one whose layout is the old one grown to fit. Every
file holds every group known so far, so a reader finds the same groups from file to file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from socs_like_agents.recording.intake import Block, Value

Kind = Literal["float", "text"]
MIN_TEXT_WIDTH = 16


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    width: int = 0  # bytes of a text field

    @property
    def dtype(self) -> str:
        return "f8" if self.kind == "float" else f"S{self.width}"


BlockKey = tuple[str, str, str]  # (instance id, feed name, block name)


def _name(part: str) -> str:
    """An HDF5 link name for a part of a path (no '/', not '.')."""
    escaped = part.replace("%", "%25").replace("/", "%2F")
    return "%2E" if escaped == "." else escaped


def group_path(key: BlockKey) -> str:
    return "/" + "/".join(_name(p) for p in key)


def field_name(name: str) -> str:
    return _name(name)


def _width(n: int) -> int:
    width = MIN_TEXT_WIDTH
    while width < n:
        width *= 2
    return width


def _text_width(column: list[Value]) -> int:
    """The width a text field needs for `column` (numbers stored as their text)."""
    longest = max(
        (len((v if isinstance(v, str) else str(v)).encode()) for v in column if v is not None),
        default=0,
    )
    return _width(longest)


def _fits(have: FieldSpec, column: list[Value]) -> bool:
    if have.kind == "float":
        return not any(isinstance(v, str) for v in column)
    return _text_width(column) <= have.width


def _grow(have: FieldSpec | None, column: list[Value]) -> FieldSpec:
    """The spec of a field that held `have` (None: new) and must now take `column` too."""
    if have is not None and _fits(have, column):
        return have
    if have is None and not any(isinstance(v, str) for v in column):
        return FieldSpec("float")
    return FieldSpec("text", max(have.width if have else 0, _text_width(column)))


@dataclass
class BlockSpec:
    agent_address: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)


@dataclass
class Layout:
    """The groups and fields of one file."""

    blocks: dict[BlockKey, BlockSpec] = field(default_factory=dict)

    def fits(self, block: Block) -> bool:
        spec = self.blocks.get(key_of(block))
        if spec is None:
            return False
        for name, column in block.data.items():
            have = spec.fields.get(name)
            if have is None or not _fits(have, column):
                return False
        return True

    def grown(self, block: Block) -> Layout:
        """A copy of this layout grown to fit `block`."""
        blocks = {k: BlockSpec(v.agent_address, dict(v.fields)) for k, v in self.blocks.items()}
        spec = blocks.setdefault(key_of(block), BlockSpec(block.agent_address))
        for name, column in block.data.items():
            spec.fields[name] = _grow(spec.fields.get(name), column)
        return Layout(blocks)


def key_of(block: Block) -> BlockKey:
    return (block.instance_id, block.feed_name, block.block_name)
