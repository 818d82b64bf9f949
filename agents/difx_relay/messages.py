"""DiFX message documents (`<difxMessage>`): typed immutable records, a parser and an encoder.

Parsing rules:
- whitespace between elements and around values is ignored; both XML declarations (with and
  without `standalone`) are accepted; a trailing NUL (C senders) is dropped;
- hardened as defusedxml's `forbid_dtd`: a DTD or entity declaration is refused, so nothing is
  ever expanded or fetched (see `_checked_body`);
- values are cast (`int`, `float`, hex status word); a value that does not cast, a missing
  header or a document that is not a `<difxMessage>` raises `RemoteProtocolError` naming the
  sender, the type and the field;
- status, alert, load, info and Mark5 status documents become their own record; every other
  type is a `GenericMessage`: header plus the raw body fields.
"""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, cast
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

from .errors import RemoteProtocolError

STATES: Final = (
    "Spawning",
    "Starting",
    "Running",
    "Ending",
    "Done",
    "Aborting",
    "Terminating",
    "Terminated",
    "MpiDone",
    "Crashed",
)
TERMINAL_STATES: Final = frozenset({"Done", "MpiDone", "Terminated", "Crashed"})


class Severity(enum.IntEnum):
    FATAL = 0
    SEVERE = 1
    ERROR = 2
    WARNING = 3
    INFO = 4
    VERBOSE = 5
    DEBUG = 6


# Keyword of guiServer's MESSAGE_SELECTION that lets each message type through.
SELECTION_KEYWORDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "DifxLoadMessage": "LOAD_MESSAGES",
        "DifxAlertMessage": "ALERT_MESSAGES",
        "Mark5StatusMessage": "MARK5STATUS_MESSAGES",
        "DifxStatusMessage": "STATUS_MESSAGES",
        "DifxInfoMessage": "INFO_MESSAGES",
        "DifxCommand": "COMMAND_MESSAGES",
        "DifxStop": "STOP_MESSAGES",
        "DifxSmartMessage": "SMART_MESSAGES",
        "DifxFileTransfer": "FILETRANSFER_MESSAGES",
        "DifxFileOperation": "FILEOPERATION_MESSAGES",
        "DifxVex2DifxRun": "VEX2DIFXRUN_MESSAGES",
        "DifxMachinesDefinition": "MACHINESDEFINITION_MESSAGES",
        "DifxGetDirectory": "GETDIRECTORY_MESSAGES",
        "DifxMk5Control": "MK5CONTROL_MESSAGES",
        "DifxMark5Copy": "MARK5COPY_MESSAGES",
        "Unknown": "UNKNOWN_MESSAGES",
    }
)
ALL_KEYWORDS: Final = tuple(sorted(set(SELECTION_KEYWORDS.values())))


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    from_host: str
    message_type: str
    identifier: str = ""
    mpi_process_id: int = -1
    to: tuple[str, ...] = ()
    seq_number: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusMessage:
    header: Header
    state: str
    input_file: str | None = None
    message: str = ""
    visibility_mjd: float | None = None
    job_start_mjd: float | None = None
    job_stop_mjd: float | None = None
    weights: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertMessage:
    header: Header
    message: str
    severity: int
    input_file: str | None = None

    @property
    def severity_name(self) -> str:
        try:
            return Severity(self.severity).name
        except ValueError:
            return f"LEVEL{self.severity}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadMessage:
    header: Header
    cpu_load: float
    total_memory: int
    used_memory: int
    net_rx_rate: int
    net_tx_rate: int
    n_core: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoMessage:
    header: Header
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark5StatusMessage:
    header: Header
    bank_a_vsn: str
    bank_b_vsn: str
    status_word: int
    active_bank: str
    state: str
    scan_number: int
    scan_name: str
    position: int
    play_rate: float
    data_mjd: float
    input_file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyField:
    """One element of a body kept raw: its tag, attributes and stripped text."""

    tag: str
    text: str = ""
    attrs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericMessage:
    header: Header
    body_tag: str | None = None
    body: tuple[BodyField, ...] = ()

    @property
    def repeated(self) -> dict[str, list[dict[str, str]]]:
        """Every occurrence, in order, of each tag that appears more than once or carries
        attributes and no text (a Smart message's `<smart id= value=/>` list, even of one):
        its attributes, and its text as `text`."""
        counts: dict[str, int] = {}
        for f in self.body:
            counts[f.tag] = counts.get(f.tag, 0) + (2 if f.attrs and not f.text else 1)
        out: dict[str, list[dict[str, str]]] = {}
        for f in self.body:
            if counts[f.tag] > 1:
                item = dict(f.attrs)
                if f.text:
                    item["text"] = f.text
                out.setdefault(f.tag, []).append(item)
        return out

    @property
    def fields(self) -> Mapping[str, str]:
        """Body fields as a dict: the last text of each tag, attributes as `tag@attr` (see
        `repeated` for tags that occur more than once)."""
        out: dict[str, str] = {}
        for f in self.body:
            if f.text or not f.attrs:
                out[f.tag] = f.text
            for name, value in f.attrs:
                out[f"{f.tag}@{name}"] = value
        return out


DifxMessage = (
    StatusMessage | AlertMessage | LoadMessage | InfoMessage | Mark5StatusMessage | GenericMessage
)


# --------------------------------------------------------------------------- parsing


_ACCEPTED_ENCODINGS: Final = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _checked_body(data: bytes) -> bytes:
    """Refuse what could make expat expand or fetch anything; return the document after its
    XML declaration.

    Entities can only be declared in a DTD, and a DTD only as a literal `<!DOCTYPE` in the
    prolog. Once the document is known to be UTF-8/ASCII (starts with `<`, declares no other
    encoding, holds no NUL), that literal cannot hide, so refusing it leaves only the five
    predefined entities and character references. This is the guard defusedxml applies
    (`forbid_dtd`), done on bytes so the C ElementTree parser can be used: defusedxml's own
    parser is pure Python and reaches about half our 50 000 docs/s target.

    With the encoding checked, the declaration says nothing expat's UTF-8 default does not,
    and dropping it saves a tenth of the parse.
    """
    if not data.startswith(b"<") or b"\x00" in data:
        raise RemoteProtocolError("DiFX message must be UTF-8 XML starting with '<'")
    if b"<!" in data and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
        raise RemoteProtocolError("DTDs and entity declarations are not allowed in DiFX messages")
    if not data.startswith(b"<?xml"):
        return data
    end = data.find(b"?>")
    if end < 0:
        raise RemoteProtocolError("malformed DiFX message: unterminated XML declaration")
    declaration = data[:end]
    if b'encoding="UTF-8"' not in declaration:  # what every DiFX sender writes
        m = _ENCODING.match(declaration)
        if m is not None and m.group(1).lower() not in _ACCEPTED_ENCODINGS:
            raise RemoteProtocolError(
                f"DiFX message declares encoding {m.group(1).decode()!r}; only UTF-8 is accepted"
            )
    return data[end + 2 :]


_EDGE: Final = (b" ", b"\t", b"\r", b"\n", b"\x00", b"")


class _StreamParser:
    """One expat parser kept open across documents, as children of an outer `<s>`.

    Creating a parser costs about a tenth of a status document's parse, so documents that
    parse cleanly share one. Clean means: the document ends (a sentinel `<z/>` fed after it
    lands beside it, not inside it), it is a single element with nothing around it. Anything
    else, including a parse error, discards this parser; the caller then parses the document
    with a parser of its own, whose error text (line and column) is the document's own.
    """

    def __init__(self) -> None:
        self._parser: ElementTree.XMLPullParser[ElementTree.Element] = ElementTree.XMLPullParser(
            events=("start",)
        )
        self._parser.feed(b"<s>")
        event = next(iter(self._parser.read_events()))
        first = cast("tuple[str, object]", event)[1]
        if not isinstance(first, ElementTree.Element):
            raise RuntimeError("the XML parser gave no start event for the outer element")
        self._root: ElementTree.Element = first
        # The start events (only wanted for the outer element) are dropped in one C call
        # where CPython's queue is reachable, else read out one by one.
        queue = getattr(self._parser, "_events_queue", None)
        self._drop_events: Callable[[], object] = (
            queue.clear if queue is not None else lambda: list(self._parser.read_events())
        )
        self.broken = False

    def element(self, body: bytes) -> ElementTree.Element | None:
        root = self._root
        try:
            self._parser.feed(body)
            self._parser.feed(b"<z/>")
        except ElementTree.ParseError:
            self.broken = True
            return None
        self._drop_events()
        if (
            len(root) != 2
            or root[1].tag != "z"
            or (root.text or "").strip()
            or (root[0].tail or "").strip()
        ):
            self.broken = True
            return None
        element = root[0]
        element.tail = None
        del root[:]
        return element


class _Streams(threading.local):
    """One stream parser per thread (expat parsers are not shared between threads)."""

    current: _StreamParser | None = None

    def parser(self) -> _StreamParser:
        if self.current is None or self.current.broken:
            self.current = _StreamParser()
        return self.current


_streams = _Streams()


def parse_message(data: bytes | str) -> DifxMessage:
    """One DiFX message document → its record; `RemoteProtocolError` if it is not one."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    # C senders sometimes count the terminating NUL in the datagram; whitespace around the
    # document is layout. (Checked first: stripping copies, and most documents need none.)
    if data[:1] in _EDGE or data[-1:] in _EDGE:
        data = data.strip(b" \t\r\n\x00")
    if not data:
        raise RemoteProtocolError("empty DiFX message")
    body = _checked_body(data)
    root = _streams.parser().element(body)
    if root is None:  # not a clean document: a parser of its own gives the exact reason
        parser = ElementTree.XMLParser()
        try:
            parser.feed(body)
            root = parser.close()
        except ElementTree.ParseError as e:
            raise RemoteProtocolError(f"malformed DiFX message: {e}") from None
    if root.tag != "difxMessage":
        raise RemoteProtocolError(f"not a DiFX message: root element <{root.tag}>")
    return _build(root)


def _text(el: ElementTree.Element) -> str:
    # Whitespace around a value is layout; comments are dropped by the tree builder.
    t = el.text
    return "" if t is None else t.strip()


def _values(body: ElementTree.Element) -> dict[str, str]:
    return {el.tag: _text(el) for el in body}


# The builders read fields with `findtext` (a C loop over children) instead of walking the
# tree in Python: at 50 000 documents a second, that difference is most of the budget.


def _build(root: ElementTree.Element) -> DifxMessage:
    head = root.find("header")
    mtype = "" if head is None else (head.findtext("type") or "").strip()
    if head is None or not mtype:
        raise RemoteProtocolError("DiFX message without <header><type>")
    host = (head.findtext("from") or "").strip()
    mpi = head.findtext("mpiProcessId")
    tos = head.findall("to")
    seq: str | None = None
    body_el: ElementTree.Element | None = None
    body = root.find("body")
    if body is not None:
        for item in body:
            if item.tag == "seqNumber":
                seq = item.text
            elif body_el is None:
                body_el = item
    try:
        mpi_id = int(mpi) if mpi and not mpi.isspace() else -1
        seq_number = int(seq) if seq and not seq.isspace() else None
    except ValueError:
        where = f"{mtype} from {host!r}"
        _int(mpi or "-1", where, "mpiProcessId")
        raise _int_error(where, "seqNumber", seq) from None
    header = Header(
        from_host=host,
        message_type=mtype,
        identifier=(head.findtext("identifier") or "").strip(),
        mpi_process_id=mpi_id,
        to=tuple(_text(t) for t in tos) if tos else (),
        seq_number=seq_number,
    )
    builder = None if body_el is None else _BUILDERS.get((mtype, body_el.tag))
    if builder is None or body_el is None:
        fields = (
            ()
            if body_el is None
            else tuple(
                BodyField(tag=el.tag, text=_text(el), attrs=tuple(el.attrib.items()))
                for el in body_el.iter()
                if el is not body_el
            )
        )
        return GenericMessage(
            header=header, body_tag=None if body_el is None else body_el.tag, body=fields
        )
    return builder(header, body_el, f"{mtype} from {host!r}")


def _int_error(where: str, name: str, text: str | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"{where}: {name} {text!r} is not an integer")


def _int(text: str | None, where: str, name: str) -> int:
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _int_error(where, name, text) from None


def _float(text: str | None, where: str, name: str) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RemoteProtocolError(f"{where}: {name} {text!r} is not a number") from None


def _req(v: dict[str, str], key: str, where: str) -> str:
    try:
        return v[key]
    except KeyError:
        raise RemoteProtocolError(f"{where}: missing <{key}>") from None


_KIND = {int: "an integer", float: "a number", str: "text"}


def _explain(where: str, v: dict[str, str], spec: tuple[tuple[str, type, bool], ...]) -> Exception:
    """The precise error for the first field of `spec` that is missing or does not cast.

    The builders cast without per-field checks (the hot path) and call this only on failure.
    """
    for key, convert, required in spec:
        text = v.get(key)
        if not text:
            if required:
                return RemoteProtocolError(f"{where}: missing <{key}>")
            continue
        try:
            convert(text)
        except ValueError:
            return RemoteProtocolError(f"{where}: {key} {text!r} is not {_KIND[convert]}")
    return RemoteProtocolError(f"{where}: body does not match its type")


def _opt_float(text: str | None) -> float | None:
    return float(text) if text and not text.isspace() else None


def _opt_text(text: str | None) -> str | None:
    return None if text is None else text.strip()


_STATUS_SPEC = (
    ("state", str, True),
    ("visibilityMJD", float, False),
    ("jobstartMJD", float, False),
    ("jobstopMJD", float, False),
)
_ALERT_SPEC = (("severity", int, True),)
_LOAD_SPEC = (
    ("cpuLoad", float, True),
    ("totalMemory", int, True),
    ("usedMemory", int, True),
    ("netRXRate", int, True),
    ("netTXRate", int, True),
    ("nCore", int, True),
)


def _status(h: Header, b: ElementTree.Element, where: str) -> StatusMessage:
    weights = tuple(
        (
            _int(w.get("ant"), where, "weight ant"),
            _float(w.get("wt"), where, "weight wt"),
        )
        for w in b.findall("weight")
    )
    state = b.findtext("state")
    try:
        if state is None:
            raise KeyError("state")
        return StatusMessage(
            header=h,
            state=state.strip(),
            input_file=_opt_text(b.findtext("input")),
            message=(b.findtext("message") or "").strip(),
            visibility_mjd=_opt_float(b.findtext("visibilityMJD")),
            job_start_mjd=_opt_float(b.findtext("jobstartMJD")),
            job_stop_mjd=_opt_float(b.findtext("jobstopMJD")),
            weights=weights,
        )
    except (KeyError, ValueError):
        raise _explain(where, _values(b), _STATUS_SPEC) from None


def _alert(h: Header, b: ElementTree.Element, where: str) -> AlertMessage:
    try:
        return AlertMessage(
            header=h,
            message=(b.findtext("alertMessage") or "").strip(),
            input_file=_opt_text(b.findtext("input")),
            severity=int(b.findtext("severity")),  # type: ignore[arg-type]
        )
    except (TypeError, ValueError):
        raise _explain(where, _values(b), _ALERT_SPEC) from None


def _load(h: Header, b: ElementTree.Element, where: str) -> LoadMessage:
    f = b.findtext
    try:
        return LoadMessage(
            header=h,
            cpu_load=float(f("cpuLoad")),  # type: ignore[arg-type]
            total_memory=int(f("totalMemory")),  # type: ignore[arg-type]
            used_memory=int(f("usedMemory")),  # type: ignore[arg-type]
            net_rx_rate=int(f("netRXRate")),  # type: ignore[arg-type]
            net_tx_rate=int(f("netTXRate")),  # type: ignore[arg-type]
            n_core=int(f("nCore")),  # type: ignore[arg-type]
        )
    except (TypeError, ValueError):
        raise _explain(where, _values(b), _LOAD_SPEC) from None


def _info(h: Header, b: ElementTree.Element, where: str) -> InfoMessage:
    return InfoMessage(header=h, message=(b.findtext("message") or "").strip())


def _mark5(h: Header, b: ElementTree.Element, where: str) -> Mark5StatusMessage:
    v = _values(b)
    word = _req(v, "statusWord", where)
    try:
        status_word = int(word, 16)
    except ValueError:
        raise RemoteProtocolError(f"{where}: statusWord {word!r} is not hexadecimal") from None
    return Mark5StatusMessage(
        header=h,
        input_file=v.get("input"),
        bank_a_vsn=v.get("bankAVSN", "none"),
        bank_b_vsn=v.get("bankBVSN", "none"),
        status_word=status_word,
        active_bank=v.get("activeBank", ""),
        state=_req(v, "state", where),
        scan_number=_int(v.get("scanNumber", "0"), where, "scanNumber"),
        scan_name=v.get("scanName", ""),
        position=_int(v.get("position", "0"), where, "position"),
        play_rate=_float(v.get("playRate", "0"), where, "playRate"),
        data_mjd=_float(v.get("dataMJD", "0"), where, "dataMJD"),
    )


_BUILDERS: Final[
    dict[tuple[str, str], Callable[[Header, ElementTree.Element, str], DifxMessage]]
] = {
    ("DifxStatusMessage", "difxStatus"): _status,
    ("DifxAlertMessage", "difxAlert"): _alert,
    ("DifxLoadMessage", "difxLoad"): _load,
    ("DifxInfoMessage", "difxInfo"): _info,
    ("Mark5StatusMessage", "mark5Status"): _mark5,
}


# --------------------------------------------------------------------------- encoding

XML_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
WRAPPER_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8"?>'


def _el(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _num(value: float) -> str:
    return repr(float(value))


def encode_message(msg: DifxMessage, *, declaration: str = XML_DECLARATION) -> bytes:
    """The document a DiFX process would multicast for `msg` (no whitespace, as DiFX does)."""
    h = msg.header
    head = _el("from", h.from_host) + "".join(_el("to", t) for t in h.to)
    head += _el("mpiProcessId", h.mpi_process_id) + _el("identifier", h.identifier)
    head += _el("type", h.message_type)
    seq = "" if h.seq_number is None else _el("seqNumber", h.seq_number)
    body = f"<{_body_tag(msg)}>{_body(msg)}</{_body_tag(msg)}>" if _body_tag(msg) else ""
    text = (
        f"{declaration}\n<difxMessage><header>{head}</header><body>{seq}{body}</body></difxMessage>"
    )
    return text.encode("utf-8")


def _body_tag(msg: DifxMessage) -> str | None:
    if isinstance(msg, GenericMessage):
        return msg.body_tag
    return {
        StatusMessage: "difxStatus",
        AlertMessage: "difxAlert",
        LoadMessage: "difxLoad",
        InfoMessage: "difxInfo",
        Mark5StatusMessage: "mark5Status",
    }[type(msg)]


def _opt(tag: str, value: object | None) -> str:
    return "" if value is None else _el(tag, value)


def _body(msg: DifxMessage) -> str:
    if isinstance(msg, StatusMessage):
        return (
            _opt("input", msg.input_file)
            + _el("state", msg.state)
            + _el("message", msg.message)
            + _opt(
                "visibilityMJD", None if msg.visibility_mjd is None else _num(msg.visibility_mjd)
            )
            + _opt("jobstartMJD", None if msg.job_start_mjd is None else _num(msg.job_start_mjd))
            + _opt("jobstopMJD", None if msg.job_stop_mjd is None else _num(msg.job_stop_mjd))
            + "".join(f'<weight ant="{a}" wt="{_num(w)}"/>' for a, w in msg.weights)
        )
    if isinstance(msg, AlertMessage):
        return (
            _opt("input", msg.input_file)
            + _el("alertMessage", msg.message)
            + _el("severity", msg.severity)
        )
    if isinstance(msg, LoadMessage):
        return (
            _el("cpuLoad", _num(msg.cpu_load))
            + _el("totalMemory", msg.total_memory)
            + _el("usedMemory", msg.used_memory)
            + _el("netRXRate", msg.net_rx_rate)
            + _el("netTXRate", msg.net_tx_rate)
            + _el("nCore", msg.n_core)
        )
    if isinstance(msg, InfoMessage):
        return _el("message", msg.message)
    if isinstance(msg, Mark5StatusMessage):
        return (
            _opt("input", msg.input_file)
            + _el("bankAVSN", msg.bank_a_vsn)
            + _el("bankBVSN", msg.bank_b_vsn)
            + _el("statusWord", f"0x{msg.status_word:08X}")
            + _el("activeBank", msg.active_bank)
            + _el("state", msg.state)
            + _el("scanNumber", msg.scan_number)
            + _el("scanName", msg.scan_name)
            + _el("position", msg.position)
            + _el("playRate", _num(msg.play_rate))
            + _el("dataMJD", _num(msg.data_mjd))
        )
    return "".join(_raw_field(f) for f in msg.body)


def _raw_field(f: BodyField) -> str:
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in f.attrs)
    return f"<{f.tag}{attrs}>{escape(f.text)}</{f.tag}>"


__all__ = [
    "SELECTION_KEYWORDS",
    "STATES",
    "TERMINAL_STATES",
    "AlertMessage",
    "BodyField",
    "DifxMessage",
    "GenericMessage",
    "Header",
    "InfoMessage",
    "LoadMessage",
    "Mark5StatusMessage",
    "Severity",
    "StatusMessage",
    "encode_message",
    "parse_message",
]
