"""What each feed of the DiFX relay carries: one documented shape per feed, built from records.

Every plain-feed event has the sender fields of `Common`; `difx_load` is a recorded feed of
one block per host (OCS's `{"block_name", "timestamp", "data"}`), so aggregators keep it.
"""

from __future__ import annotations

from typing import TypedDict

from .jobs import job_name
from .messages import (
    AlertMessage,
    DifxMessage,
    GenericMessage,
    InfoMessage,
    LoadMessage,
    Mark5StatusMessage,
    StatusMessage,
)

# Every feed `feed_event` can name: the agent registers each, and a relay needs them all.
DOCUMENT_FEEDS = (
    "difx_status",
    "difx_alerts",
    "difx_load",
    "mark5_status",
    "difx_info",
    "difx_other",
)


class Common(TypedDict):
    host: str  # <from>
    mpi_id: int  # −1 non-correlator, 0 manager, 1..D datastreams, above: cores
    identifier: str  # job name, or the daemon's name
    seq: int | None  # the sender's seqNumber
    seq_gap: int  # documents missing from this sender just before this one
    timestamp: float  # when the agent received it (Unix time)


class StatusEvent(Common):
    """`difx_status`: one job's state."""

    job: str
    state: str  # Spawning ... MpiDone, Crashed
    progress: float  # percent, by the spec's rule (see jobs.progress_percent)
    input: str | None
    message: str
    visibility_mjd: float | None
    weights: dict[str, float]  # antenna index → weight


class AlertEvent(Common):
    """`difx_alerts`."""

    job: str
    severity: int  # 0 FATAL ... 6 DEBUG
    severity_name: str
    message: str
    input: str | None


class Mark5Event(Common):
    """`mark5_status`."""

    bank_a_vsn: str
    bank_b_vsn: str
    status_word: int
    active_bank: str
    state: str
    scan_number: int
    scan_name: str
    position: int  # bytes
    play_rate: float  # Mbps
    data_mjd: float
    input: str | None


class InfoEvent(Common):
    """`difx_info`."""

    message: str


class OtherEvent(Common):
    """`difx_other`: every other type, header plus raw body fields."""

    type: str
    fields: dict[str, str]  # last value of each tag, attributes as tag@attr
    repeated: dict[str, list[dict[str, str]]]  # every occurrence of a repeated tag, in order


class LoadData(TypedDict):
    cpu_load: float
    total_memory: int  # KiB
    used_memory: int  # KiB
    net_rx_rate: int  # bytes/s
    net_tx_rate: int  # bytes/s
    n_core: int


class LoadSample(TypedDict):
    """`difx_load` (recorded): one sample in the block named after the host."""

    block_name: str
    timestamp: float
    data: LoadData


Event = StatusEvent | AlertEvent | Mark5Event | InfoEvent | OtherEvent | LoadSample


def feed_event(msg: DifxMessage, *, now: float, seq_gap: int, progress: float) -> tuple[str, Event]:
    """The feed a record goes to and its payload; `progress` is the job table's value."""
    h = msg.header
    if isinstance(msg, LoadMessage):
        return "difx_load", LoadSample(
            block_name=h.from_host or "unknown",
            timestamp=now,
            data=LoadData(
                cpu_load=msg.cpu_load,
                total_memory=msg.total_memory,
                used_memory=msg.used_memory,
                net_rx_rate=msg.net_rx_rate,
                net_tx_rate=msg.net_tx_rate,
                n_core=msg.n_core,
            ),
        )
    common = Common(
        host=h.from_host,
        mpi_id=h.mpi_process_id,
        identifier=h.identifier,
        seq=h.seq_number,
        seq_gap=seq_gap,
        timestamp=now,
    )
    if isinstance(msg, StatusMessage):
        return "difx_status", StatusEvent(
            **common,
            job=job_name(msg),
            state=msg.state,
            progress=progress,
            input=msg.input_file,
            message=msg.message,
            visibility_mjd=msg.visibility_mjd,
            weights={str(a): w for a, w in msg.weights},
        )
    if isinstance(msg, AlertMessage):
        return "difx_alerts", AlertEvent(
            **common,
            job=job_name(msg),
            severity=msg.severity,
            severity_name=msg.severity_name,
            message=msg.message,
            input=msg.input_file,
        )
    if isinstance(msg, Mark5StatusMessage):
        return "mark5_status", Mark5Event(
            **common,
            bank_a_vsn=msg.bank_a_vsn,
            bank_b_vsn=msg.bank_b_vsn,
            status_word=msg.status_word,
            active_bank=msg.active_bank,
            state=msg.state,
            scan_number=msg.scan_number,
            scan_name=msg.scan_name,
            position=msg.position,
            play_rate=msg.play_rate,
            data_mjd=msg.data_mjd,
            input=msg.input_file,
        )
    if isinstance(msg, InfoMessage):
        return "difx_info", InfoEvent(**common, message=msg.message)
    return "difx_other", _other(common, msg)


def _other(common: Common, msg: GenericMessage) -> OtherEvent:
    return OtherEvent(
        **common, type=msg.header.message_type, fields=dict(msg.fields), repeated=msg.repeated
    )
