"""What the dashboard knows of the site, built from what the hub delivers (no I/O here).

Inputs are the events the server receives: heartbeats (``{op: op_code}`` once a second per
agent), pushed sessions (``<address>.feeds.sessions``), the registry's ``main`` session data
(which agents exist and which it has expired) and every other feed event. Outputs are the
rows of the overview, one agent's sessions and each feed's counters, all JSON-ready.

Who is expired is the registry's verdict when the registry lists the agent (OCS tools see
the same); an agent the registry does not list (no registry running, or not yet seen by it)
is judged here by the same rule: silent for more than `expire_after` seconds.

A HostManager (``socs-like up``'s agent on each host) reports its supervisor's children: its
``manager`` session data and each event of its ``states`` feed hold ``{timestamp, instances:
{id: Child.as_dict}}``. While that HostManager is alive (by the rule above), an instance it
says is crash-looping, restarting, crashed or stopped is shown so, with its restarts and the
last line it wrote, and instances it runs that never came up are listed too. Once the
HostManager itself is expired its reports are no longer trusted: rows go back to the
heartbeat verdict and only say what it last reported, and when.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from socs_like.ops import OpCode
from socs_like.sequence import SenderCounts, SequenceTracker
from socs_like.site_config import HOST_MANAGER_CLASS
from socs_like.status import last_failure
from socs_like.supervisor import NOT_AGENTS

# A feed's rate is the records it delivered over this many seconds, divided by them.
RATE_WINDOW = 10.0
# Events kept per feed, so a page that opens a plot starts with recent data.
RECENT_EVENTS = 200
ACTIVE_CODES = {int(OpCode.STARTING), int(OpCode.RUNNING), int(OpCode.STOPPING)}
# A supervisor's states that say more than a heartbeat can: the agent is not running, and why.
NOT_RUNNING = ("crash-looping", "restarting", "crashed", "stopped")


@dataclass
class FeedStats:
    """One feed as the dashboard received it. ``lost`` counts records missing between the
    sequence numbers seen (a gap upstream), ``rate`` is records per second."""

    agent: str
    feed: str
    record: bool = False
    events: int = 0
    records: int = 0
    last_time: float | None = None
    tracker: SequenceTracker[int] = field(default_factory=lambda: SequenceTracker(max_senders=1))
    arrivals: deque[tuple[float, int]] = field(default_factory=deque)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))

    def observe(self, payload: Any, info: dict[str, Any], now: float) -> dict[str, Any]:
        """Count one event; returns what goes to the pages watching this feed."""
        seq_no, count = info.get("seq_no"), info.get("seq_count") or 1
        self.events += 1
        self.records += count
        self.record = bool(info.get("record", self.record))
        self.last_time = now
        if isinstance(seq_no, int):
            for n in range(seq_no, seq_no + count):
                self.tracker.observe(0, n)
        else:
            self.tracker.observe(0, None)
        self.arrivals.append((now, count))
        self._forget_before(now)
        event = {"agent": self.agent, "feed": self.feed, "seq_no": seq_no, "payload": payload}
        self.recent.append(event)
        return event

    def _forget_before(self, now: float) -> None:
        # on every event too, not only when a page asks: a feed nobody watches grew forever
        while self.arrivals and self.arrivals[0][0] < now - RATE_WINDOW:
            self.arrivals.popleft()

    def encoded(self, now: float) -> dict[str, Any]:
        self._forget_before(now)
        counts = self.tracker.counts(0) or SenderCounts()
        return {
            "agent": self.agent,
            "feed": self.feed,
            "record": self.record,
            "events": self.events,
            "records": self.records,
            "last_seq": counts.last_seq,
            "lost": counts.lost,
            "duplicates": counts.duplicates,
            "late": counts.late,
            "restarts": counts.restarts,
            "unnumbered": self.tracker.untracked,
            "rate": sum(c for _, c in self.arrivals) / RATE_WINDOW,
            "age": None if self.last_time is None else now - self.last_time,
        }


@dataclass
class AgentInfo:
    instance_id: str
    address: str
    agent_class: str = ""
    last_beat: float | None = None  # UNIX s of the last heartbeat the dashboard received
    op_codes: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # op -> latest session
    op_kinds: dict[str, str] = field(default_factory=dict)  # op -> "tasks" | "processes"
    host: str = ""  # get_api's instance_hostname
    feeds: list[str] | None = None  # get_api's feed names; None until it answered


@dataclass
class HostReport:
    """The last word of one HostManager: its supervisor's children by instance id."""

    manager: str  # the HostManager's instance id
    timestamp: float  # when the HostManager sent it (its clock)
    instances: dict[str, dict[str, Any]]
    host: str = ""  # its host block in the site config (`socs-like up --site-host`)


class SiteState:
    """Everything the pages are shown, kept up to date by the hub link."""

    def __init__(self, address_root: str, expire_after: float = 5.0) -> None:
        self.address_root = address_root
        self.expire_after = expire_after
        self.agents: dict[str, AgentInfo] = {}  # by instance id
        self.registry: dict[str, dict[str, Any]] = {}  # address -> registry's AgentState
        self.registry_seen: float | None = None
        self.feeds: dict[tuple[str, str], FeedStats] = {}
        self.hosts: dict[str, HostReport] = {}  # by the HostManager's instance id

    # --- inputs ----------------------------------------------------------------------------

    def instance_id(self, address: str) -> str | None:
        prefix = f"{self.address_root}."
        if not address.startswith(prefix) or "." in address[len(prefix) :]:
            return None
        return address[len(prefix) :]

    def agent(self, address: str) -> AgentInfo | None:
        """The agent at `address`, made known on first sight; None outside the root."""
        instance_id = self.instance_id(address)
        if instance_id is None:
            return None
        info = self.agents.get(instance_id)
        if info is None:
            info = self.agents[instance_id] = AgentInfo(instance_id, address)
        return info

    def heartbeat(self, address: str, op_codes: Any, agent_class: str, now: float) -> bool:
        """Record a heartbeat; True when it is the first this dashboard received of the
        agent. (Not "first sight": a registry's list, a session push or a feed event may
        make the agent known before its first heartbeat, and it must still be seeded.)"""
        info = self.agent(address)
        if info is None or not isinstance(op_codes, dict):
            return False
        first = info.last_beat is None
        info.last_beat = now
        info.agent_class = agent_class or info.agent_class
        info.op_codes = {str(k): v for k, v in op_codes.items() if isinstance(v, int)}
        return first

    def session(self, address: str, agent_class: str, session: Any) -> dict[str, Any] | None:
        """Record a pushed session; returns the page event, or None if it is stale or bad."""
        info = self.agent(address)
        if info is None or not isinstance(session, dict) or "op_name" not in session:
            return None
        op = str(session["op_name"])
        held = info.sessions.get(op)
        if held is not None and _older(session, held):
            return None  # an older session's late push
        info.sessions[op] = session
        if agent_class:
            info.agent_class = agent_class
        if agent_class == "Registry" and op == "main" and isinstance(session.get("data"), dict):
            self.registry_data(session["data"], time.time())
        if agent_class == HOST_MANAGER_CLASS and op == "manager":
            self.host_report(info.instance_id, session.get("data"))
        return {"agent": info.instance_id, "op": op, "session": session}

    def api(self, address: str, api: dict[str, Any]) -> None:
        """Seed an agent from its get_api: class, operations and their latest summaries."""
        info = self.agent(address)
        if info is None:
            return
        info.agent_class = str(api.get("agent_class") or info.agent_class)
        info.host = str(api.get("instance_hostname") or info.host)
        info.feeds = [str(feed[0]) for feed in api.get("feeds", []) if feed]
        for kind in ("tasks", "processes"):
            for name, summary, _op_info in api.get(kind, []):
                info.op_kinds[name] = kind
                held = info.sessions.get(name)
                if summary and (
                    held is None or held.get("session_id") != summary.get("session_id")
                ):
                    info.sessions[name] = summary

    def registry_data(self, data: dict[str, Any], now: float) -> None:
        self.registry = {k: v for k, v in data.items() if isinstance(v, dict)}
        self.registry_seen = now
        for address in self.registry:
            self.agent(address)

    def host_report(self, manager: str, data: Any) -> None:
        """Keep a HostManager's report (session data or `states` event) unless an older one."""
        if not isinstance(data, dict) or not isinstance(data.get("instances"), dict):
            return
        stamp = data.get("timestamp")
        stamp = float(stamp) if isinstance(stamp, (int, float)) else 0.0
        held = self.hosts.get(manager)
        if held is not None and stamp < held.timestamp:
            return  # the session push of a change the feed already brought
        instances = {
            str(k): v
            for k, v in data["instances"].items()
            if isinstance(v, dict) and v.get("class") not in NOT_AGENTS
        }
        host = data.get("host")
        self.hosts[manager] = HostReport(manager, stamp, instances, str(host or ""))

    def feed_event(
        self, address: str, feed: str, payload: Any, info: dict[str, Any], now: float
    ) -> dict[str, Any] | None:
        instance_id = self.instance_id(address)
        if instance_id is None:
            return None
        self.agent(address)
        if feed == "states" and info.get("agent_class") == HOST_MANAGER_CLASS:
            self.host_report(instance_id, payload)
        stats = self.feeds.get((instance_id, feed))
        if stats is None:
            stats = self.feeds[(instance_id, feed)] = FeedStats(instance_id, feed)
        return stats.observe(payload, info, now)

    # --- outputs ---------------------------------------------------------------------------

    def state_of(self, info: AgentInfo, now: float) -> tuple[str, str]:
        """``(state, why)``: alive or expired (or unknown), and whose verdict it is."""
        verdict = self.registry.get(info.address)
        if verdict is not None:
            if verdict.get("expired"):
                return "expired", "registry: no heartbeat"
            return "alive", "registry"
        if info.last_beat is None:
            return "unknown", "no heartbeat received yet"
        if now - info.last_beat > self.expire_after:
            return "expired", f"no heartbeat for {self.expire_after:.0f} s (no registry verdict)"
        return "alive", "heartbeat (no registry verdict)"

    def host_entry(self, instance_id: str, now: float) -> tuple[HostReport, bool] | None:
        """The newest HostManager report listing `instance_id`, and whether it is trusted
        (its HostManager is alive now)."""
        reports = [r for r in self.hosts.values() if instance_id in r.instances]
        if not reports:
            return None
        report = max(reports, key=lambda r: r.timestamp)
        manager = self.agents.get(report.manager)
        trusted = manager is not None and self.state_of(manager, now)[0] == "alive"
        return report, trusted

    def host_state(self, info: AgentInfo, now: float) -> tuple[str, str, dict[str, Any]]:
        """``(state, why, host fields)``: `state_of` amended by the HostManager's report."""
        state, why = self.state_of(info, now)
        found = self.host_entry(info.instance_id, now)
        if found is None:
            return state, why, {}
        report, trusted = found
        entry = report.instances[info.instance_id]
        said = str(entry.get("state", ""))
        fields = {
            "host_manager": report.manager,
            "host_state": said,
            "host_trusted": trusted,
            "restarts": entry.get("restarts"),
            "last_exit": entry.get("last_exit"),
            "last_line": entry.get("last_line") or "",
            "retry_in": entry.get("retry_in"),
        }
        if not trusted:
            why = f"{why}; {report.manager} has expired: its last report ({said}) is not trusted"
        elif said in NOT_RUNNING:
            exit_code = entry.get("last_exit")
            state, why = said, f"{report.manager}: {said}, last exit {exit_code}"
        elif state == "unknown":
            why = f"{report.manager}: {said} (pid {entry.get('pid')}), no heartbeat yet"
        return state, why, fields

    @staticmethod
    def host_name(info: AgentInfo, report: HostReport | None, manager: AgentInfo | None) -> str:
        """The host an agent runs on: its HostManager's host block, the name the site config
        and `socs-like up --site-host` use (hosts of one site may share a hostname: network
        namespaces, containers), else the machine's hostname as the agent or its HostManager
        says it."""
        if report is not None and report.host:
            return report.host
        return info.host or (manager.host if manager else "")

    def heartbeat_age(self, info: AgentInfo, now: float) -> float | None:
        beats = [info.last_beat] if info.last_beat is not None else []
        verdict = self.registry.get(info.address)
        if verdict is not None and isinstance(verdict.get("last_updated"), (int, float)):
            beats.append(float(verdict["last_updated"]))
        return now - max(beats) if beats else None

    def _api_shape(self, info: AgentInfo) -> dict[str, Any]:
        shaped: dict[str, Any] = {"tasks": [], "processes": []}
        for name, session in info.sessions.items():
            shaped[info.op_kinds.get(name, "tasks")].append([name, session, {}])
        return shaped

    def row(self, info: AgentInfo, now: float) -> dict[str, Any]:
        state, why, host_fields = self.host_state(info, now)
        verdict = self.registry.get(info.address) or {}
        running = sorted(
            op for op, code in info.op_codes.items() if code in ACTIVE_CODES and state == "alive"
        )
        entry = self.host_entry(info.instance_id, now)
        report = entry[0] if entry else self.hosts.get(info.instance_id)
        manager = self.agents.get(report.manager) if report else None
        listed = entry[0].instances[info.instance_id] if entry else {}
        return {
            "instance_id": info.instance_id,
            "address": info.address,
            "agent_class": info.agent_class
            or verdict.get("agent_class", "")
            or str(listed.get("class", "")),
            "host": self.host_name(info, report, manager),
            "heartbeat_age": self.heartbeat_age(info, now),
            "state": state,
            "state_why": why,
            "running": running,
            "last_failure": last_failure(self._api_shape(info)),
            "restarts": None,
            "last_line": "",
            "host_manager": None,
            "host_state": None,
            "host_trusted": None,
            "last_exit": None,
            "retry_in": None,
        } | host_fields

    def overview(self, now: float) -> list[dict[str, Any]]:
        """Every agent known, and the instances a HostManager runs that never came up."""
        infos = dict(self.agents)
        for report in self.hosts.values():
            for instance_id in report.instances:
                if instance_id not in infos:
                    address = f"{self.address_root}.{instance_id}"
                    infos[instance_id] = AgentInfo(instance_id, address)
        return [self.row(infos[k], now) for k in sorted(infos)]

    def agent_feeds(self, instance_id: str, now: float) -> list[dict[str, Any]]:
        return [
            stats.encoded(now)
            for (agent, _feed), stats in sorted(self.feeds.items())
            if agent == instance_id
        ]


def _older(session: dict[str, Any], held: dict[str, Any]) -> bool:
    """Whether `session` is an older one of the op than `held`: a lower id, unless it started
    later — an agent that restarted (the HostManager brought it back) counts ids from 1 again,
    and its new sessions must replace the last life's, not be taken for late pushes."""
    if session.get("session_id", 0) >= held.get("session_id", 0):
        return False
    return not (session.get("start_time") or 0) > (held.get("start_time") or 0)
