"""Where a block's values go in InfluxDB: measurements, tags, field names and types, without
I/O. The publisher's ``--layout`` chooses one of two layouts.

``ocs`` (the default): what OCS's InfluxDB publisher (ocs 0.12, either of its protocols)
writes for the same blocks, so that an OCS site's database and dashboards carry on when ours
takes over. OCS's has two forms, chosen per block:

- a block without ``influxdb_tags``: measurement = the agent's address
  (``observatory.fake-data1``), tag ``feed`` = the feed name, one field per block field, one
  point per timestamp;
- a block with ``influxdb_tags`` (per field a tag set and the name ``_field`` to write it
  under; OCS's FakeDataAgent sends ``{"channel_00": {"channel": 0, "_field":
  "temperature"}, ...}``): measurement = the agent's class (``FakeDataAgent``), tags
  ``feed``, ``address_root``, ``instance_id`` and the field's own, the value written as
  ``_field``, one point per field and timestamp. (A feed that names no class keeps its
  address as measurement.)

Integers are written as integers, floats as floats, text as strings, booleans as booleans.
InfluxDB keeps one type per field (per shard: 7 days by default) and refuses a point whose
value has another: a field whose values are whole numbers at one time and fractions at another
(``0``, then ``0.5``) loses the points of the second type, as under OCS's publisher.

``floats``: what this publisher wrote before it followed OCS's (issue 25): every block in the
first form (``influxdb_tags`` ignored) and every number a float, so that ``0`` then ``0.5``
never conflicts. For a database it filled, whose fields are floats where OCS's would be
integers.

Where both layouts differ from OCS's publisher on purpose (none of it changes what a
dashboard reads): a null value (NaN on the feed) is left out of its point, and a point left
without values is not written (OCS's line protocol writes ``None`` and its json protocol a
point without fields: InfluxDB refuses either with its whole batch); names and strings are
escaped (OCS's line protocol does not: a quote in a string refuses its batch);
``instance_id`` is the address less the site's address root (OCS's takes the address's
second dot-separated part: the same unless the root has a dot); times are microseconds, as
OCS's json protocol writes them (its line protocol writes nanoseconds).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from socs_like_agents.recording.intake import Block


class Layout(enum.Enum):
    OCS = "ocs"
    FLOATS = "floats"


@dataclass(frozen=True, slots=True)
class Series:
    """Where some fields of a block go: one point per timestamp (unless all its values are
    null) in `measurement` with `tags`; `fields` pairs a block field with the name written."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, str], ...]


def series(block: Block, layout: Layout) -> list[Series]:
    """The series a block's values are written to, in `layout` (see the module doc)."""
    feed = ("feed", block.feed_name)
    if layout is Layout.FLOATS or not block.influxdb_tags:
        return [Series(block.agent_address, (feed,), tuple((k, k) for k in block.data))]
    root = block.agent_address.removesuffix(f".{block.instance_id}")
    shared = {"feed": block.feed_name, "address_root": root, "instance_id": block.instance_id}
    out = []
    for key in block.data:  # in the block's order, as OCS's (the last of two equal points wins)
        tag_set = block.influxdb_tags[key]
        own = {
            k: str(v)
            for k, v in tag_set.items()
            if k != "_field" and k not in shared and v is not None
        }
        tags = tuple((k, v) for k, v in (shared | own).items() if v)
        field = str(tag_set["_field"])
        out.append(Series(block.agent_class or block.agent_address, tags, ((key, field),)))
    return out
