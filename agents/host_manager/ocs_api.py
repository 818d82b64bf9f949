"""OCS's HostManager API in our terms, and back: pure functions, no I/O.

OCS's tools (``ocsbow``) read the ``manager`` process's ``child_states`` (one entry per managed
instance: ``instance_id``, ``agent_class``, ``next_action``, ``target_state``, ``stability``,
``operable``, ``restart_required``) and send ``update(requests=[(instance_id or 'all',
'up'|'down'), ...])``. Our supervisor has states and start/stop requests instead; this module
maps one onto the other.

The mapping of a state (OCS shows ``next_action`` as the current state, and "unstable" when
``stability`` is 0.5 or less while it is not down):

===============  ===========  ============  =========
ours             next_action  target_state  stability
===============  ===========  ============  =========
running          up           up            1.0
restarting       start_at     up            1.0
crash-looping    start_at     up            0.0
crashed          down         up            0.0
stopped          down         down          1.0
===============  ===========  ============  =========

A crashed instance keeps target ``up``: its config wants it up, nothing will start it (its
restart policy), and OCS's table shows exactly that mismatch. A state this table does not
know is shown as OCS shows what it cannot operate: ``?``, not operable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from socs_like.site_config import HOST_MANAGER_CLASS

from .control import HostManagerError

STATES: Mapping[str, tuple[str, str, float]] = {
    "running": ("up", "up", 1.0),
    "restarting": ("start_at", "up", 1.0),
    "crash-looping": ("start_at", "up", 0.0),
    "crashed": ("down", "up", 0.0),
    "stopped": ("down", "down", 1.0),
}
# What a target state asks of our supervisor.
OPS: Mapping[str, str] = {"up": "start", "down": "stop"}


class BadRequests(HostManagerError):
    """A request is not an ``(instance_id, target_state)`` pair."""


def child_states(instances: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OCS's ``child_states`` for our instances (`Child.as_dict`), the HostManager left out
    (as OCS's leaves itself out). Children that are not agents show their kind in brackets,
    as OCS shows a non-agent docker service as ``[docker]``."""
    states = []
    for i in instances:
        if i["class"] == HOST_MANAGER_CLASS:
            continue
        known = i["state"] in STATES
        next_action, target, stability = STATES.get(i["state"], ("?", "?", 1.0))
        agent_class = i["class"]
        if agent_class in ("simulator", "dashboard"):
            agent_class = f"[{agent_class}]"
        states.append(
            {
                "instance_id": i["instance_id"],
                "agent_class": agent_class,
                "next_action": next_action,
                "target_state": target,
                "stability": stability,
                "operable": known,
                "restart_required": False,
            }
        )
    return states


@dataclass(frozen=True)
class Plan:
    """What an ``update`` asks: each instance's final target, in the order first named, and
    OCS's words for each request it ignores."""

    targets: dict[str, str]
    ignored: list[str]

    def requests(self) -> list[tuple[str, str]]:
        """Our supervisor's requests (op, instance id) that reach the targets."""
        return [(OPS[target], iid) for iid, target in self.targets.items()]


def _is_pair(r: Any) -> bool:
    return isinstance(r, (list, tuple)) and len(r) == 2 and all(isinstance(x, str) for x in r)


def parse_requests(requests: Sequence[Any]) -> list[tuple[str, str]]:
    """OCS's ``requests`` as pairs (JSON brings each pair as a list), or `BadRequests`."""
    pairs = []
    for r in requests:
        if not _is_pair(r):
            raise BadRequests(f"each request must be (instance_id, 'up'|'down'), not {r!r}")
        pairs.append((r[0], r[1]))
    return pairs


def plan(requests: Iterable[tuple[str, str]], known: Iterable[str]) -> Plan:
    """The targets `requests` set on the `known` instance ids, taken in order as OCS does:
    ``[('all', 'up'), ('data1', 'down')]`` brings up all but data1. A request with another
    state or an unknown id is ignored with a message (``ocsbow`` then asks for a reload)."""
    ids = list(known)
    targets: dict[str, str] = {}
    ignored = []
    for key, state in requests:
        if state not in OPS:
            ignored.append(f'Ignoring request for "{key}" -> invalid state "{state}".')
        elif key == "all":
            targets.update(dict.fromkeys(ids, state))
        elif key in ids:
            targets[key] = state
        else:
            ignored.append(f"Ignoring invalid target, {key}")
    return Plan(targets, ignored)
