"""Readout register values (``metadata`` datagrams) as samples of recorded feeds.

The feed is ``<stream_id>_meta``, the stream id being the part of the publisher id after
``STREAMER:`` (or the whole id); the field (and block) name is the register path with every
run of characters other than letters, digits and underscores turned into one ``_``, with a
leading ``_`` when it would start with a digit, cut to 255 characters with a short hash to
keep long names distinct. Values are numbers or strings; a list becomes its JSON text.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from socs_like_agents.pysmurf_monitor.datagrams import Metadata

MAX_NAME = 255
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")


def safe_name(text: str) -> str:
    """Letters, digits and underscores only, not starting with a digit, at most 255 chars.
    Empty when ``text`` holds nothing usable."""
    name = _NOT_WORD.sub("_", text).strip("_")
    if not name:
        return ""
    if name[0].isdigit():
        name = "_" + name
    if len(name) > MAX_NAME:
        digest = hashlib.blake2s(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
        name = name[: MAX_NAME - 9] + "_" + digest
    return name


def stream_id(publisher_id: str) -> str:
    return publisher_id.split(":", 1)[1] if publisher_id.startswith("STREAMER:") else publisher_id


@dataclass(frozen=True, kw_only=True)
class MetaSample:
    feed: str
    sample: dict[str, Any]


def feed_sample(message: Metadata, now: float) -> MetaSample | None:
    """The feed and sample for a register value; None when no valid name can be made."""
    feed_base = safe_name(stream_id(message.envelope.id))
    field = safe_name(message.path)
    if not feed_base or not field:
        return None
    value = message.value
    if isinstance(value, bool):
        value = int(value)
    elif isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    elif value is None or isinstance(value, list):
        value = json.dumps(value)
    return MetaSample(
        feed=f"{feed_base}_meta",
        sample={
            "block_name": field,
            "timestamp": message.envelope.time or now,
            "data": {field: value},
        },
    )
