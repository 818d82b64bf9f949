"""Packed blocks: a recorded feed's columns as arrays of machine numbers — sans-I/O.

An OCS recorded-feed payload (``{block_name: {"block_name", "timestamps", "data"}}``, see
feed.py) holds one number object per sample and channel. Every hop pays for each of them: the
publisher's serializer, the hub's parser and serializer, the subscriber's parser; at 10^6
samples/s on 4 channels that is more than the hub and an agent can do on one core each.
Between our own ends the same payload goes *packed*: each column (the timestamps, each field)
of plain floats or of plain ints becomes one bytes value, a type code and the numbers in
little-endian order (``b"d"`` + float64s, ``b"q"`` + int64s); any other column (strings,
bools, mixed types, ints beyond 64 bits, empty) stays a list. Every WAMP serializer carries
bytes (JSON peers get autobahn's base64 form and back), and the hub passes them untouched.

JSON has no NaN: like OCS, a feed turns a non-finite float into ``None``. A packed float
column holds ``None`` as NaN, and `unpack_blocks` gives ``None`` back, so a packed event
decodes into exactly the payload the feed would have sent as lists.

A feed keeps a column an agent hands over as a float64 buffer (a numpy array) packed from
the start (`column_from`), so such samples never become number objects on our side at all.

Who gets which form (runtime/publish.py): sessions whose role only our own code has (they log
in with our secrets) get the packed form, every other session OCS's lists — see `Audience`.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The event's feed_info says its payload is packed, and in which version of this format.
PACKED_KEY = "packed"
PACKED_VERSION = 1
_FLOAT, _INT = b"d", b"q"
_SWAP = sys.byteorder != "little"
_FLOAT_OR_NONE = frozenset({float, type(None)})
_INT_ONLY = frozenset({int})
OUR_ROLES = ("agent", "controller", "admin")
# A column as a feed keeps it: a list, or packed (`column_from`, `pack_column`).
Column = bytes | list[Any]


@dataclass(frozen=True)
class Audience:
    """Who may subscribe to an agent's recorded feeds, as the site's hub is configured.

    Our own agents and clients log in with our secrets (roles ``agent``, ``controller``,
    ``admin``, and ``observer`` unless the hub also gives that role to anonymous sessions);
    OCS's agents and clients cannot log in, so they join the hub's legacy endpoint (roles
    ``legacy-*``) or, where the site allows it, anonymously as ``observer``. `packed_roles`
    get packed blocks (publish option ``eligible_authrole``), everyone else OCS's lists
    (``exclude_authrole``); the lists copy is published only when someone else can be there
    (`lists_copy`), since the hub parses every event it is sent, wanted or not.
    """

    packed_roles: tuple[str, ...]
    lists_copy: bool

    @classmethod
    def of_hub(cls, anonymous: str, legacy_endpoint: bool) -> Audience:
        """From the site config's ``hub.anonymous`` and whether it has ``hub.legacy``."""
        anonymous_observers = anonymous != "none"
        roles = OUR_ROLES if anonymous_observers else (*OUR_ROLES, "observer")
        return cls(roles, lists_copy=anonymous_observers or legacy_endpoint)


# Not from a site config (a test's agent, say): both forms, so nobody misses a sample.
EVERYONE = Audience(OUR_ROLES, lists_copy=True)


def column_from(values: Any) -> Column:
    """A publisher's column as a feed keeps it: a one-dimensional buffer of float64s (a
    numpy array, an ``array("d")``) packed at once, without a number object per value (a
    non-finite value becomes NaN: ``None`` once unpacked); anything else as a list."""
    try:
        view = memoryview(values)
    except TypeError:
        return list(values)
    if view.ndim != 1 or view.format != "d":
        return view.tolist() if view.ndim == 1 else list(values)
    if not math.isfinite(sum(view)):
        return pack_column(view.tolist())
    if _SWAP:
        return pack_column(view.tolist())
    return _FLOAT + view.tobytes()


def column_len(column: Column) -> int:
    return len(column) if isinstance(column, list) else (len(column) - 1) // 8


def column_slice(column: Column, start: int, stop: int) -> Column:
    if isinstance(column, list):
        return column[start:stop]
    if start == 0 and stop >= column_len(column):
        return column
    return column[:1] + column[1 + 8 * start : 1 + 8 * stop]


def join_columns(parts: list[Column]) -> Column:
    """Parts of one column, in order, as one: packed when every part is packed alike."""
    if len(parts) == 1:
        return parts[0] if isinstance(parts[0], bytes) else list(parts[0])
    packed = [p for p in parts if isinstance(p, bytes)]
    if len(packed) == len(parts) and len({p[:1] for p in packed}) == 1:
        return packed[0][:1] + b"".join(p[1:] for p in packed)
    joined: list[Any] = []
    for part in parts:
        joined += unpack_column(part)
    return joined


def pack_column(values: Column) -> Column:
    """One column, packed when it is all floats (or ``None``: packed as NaN, as is a
    non-finite float, which JSON cannot carry either) or all ints; a packed one as it is."""
    if isinstance(values, bytes):
        return values
    kinds = set(map(type, values))
    if values and kinds <= _FLOAT_OR_NONE:
        if type(None) in kinds or not math.isfinite(sum(values)):
            values = [math.nan if v is None or not math.isfinite(v) else v for v in values]
        code = _FLOAT
    elif values and kinds == _INT_ONLY:
        code = _INT
    else:
        return list(values)
    try:
        packed: array[Any] = array(code.decode(), values)
    except OverflowError:  # an int beyond 64 bits: the list carries it
        return list(values)
    if _SWAP:
        packed.byteswap()
    return code + packed.tobytes()


def unpack_column(column: Any) -> list[Any]:
    """A column as a list again; `ValueError` for bytes that are no packed column."""
    if isinstance(column, list):
        return column
    if not isinstance(column, (bytes, bytearray)):
        raise ValueError(f"a packed column is bytes or a list, not {type(column).__name__}")
    code = bytes(column[:1])
    if code not in (_FLOAT, _INT) or (len(column) - 1) % 8:
        raise ValueError(f"not a packed column: type {code!r}, {len(column) - 1} bytes")
    values = array(code.decode())
    values.frombytes(column[1:])
    if _SWAP:
        values.byteswap()
    out: list[Any] = values.tolist()
    # sum() is NaN or infinite when a value is (or, rarely, when the sum overflows)
    if code == _FLOAT and not math.isfinite(sum(out)):
        out = [None if math.isnan(v) else v for v in out]
    return out


def _each_column(
    payload: Mapping[str, Mapping[str, Any]], convert: Callable[[Any], Any]
) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "block_name": block["block_name"],
            "timestamps": convert(block["timestamps"]),
            "data": {k: convert(v) for k, v in block["data"].items()},
        }
        for name, block in payload.items()
    }


def pack_blocks(payload: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A recorded feed's payload with its columns packed."""
    return _each_column(payload, pack_column)


def unpack_blocks(payload: Any) -> dict[str, dict[str, Any]]:
    """The payload `pack_blocks` was given; `ValueError` for one that is not packed blocks."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"packed blocks are a dict, not {type(payload).__name__}")
    try:
        return _each_column(payload, unpack_column)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not packed blocks: {exc!r}") from None
