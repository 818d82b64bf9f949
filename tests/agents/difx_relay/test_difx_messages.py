"""Message documents: every record type round-trips; whitespace, declarations, bad input."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like_agents.difx_relay.errors import RemoteProtocolError
from socs_like_agents.difx_relay.feeds import (
    AlertEvent,
    InfoEvent,
    LoadSample,
    Mark5Event,
    OtherEvent,
    StatusEvent,
    feed_event,
)
from socs_like_agents.difx_relay.messages import (
    WRAPPER_DECLARATION,
    AlertMessage,
    BodyField,
    GenericMessage,
    Header,
    InfoMessage,
    LoadMessage,
    Mark5StatusMessage,
    StatusMessage,
    encode_message,
    parse_message,
)

SPEC_EXAMPLE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b"<difxMessage><header><from>difxhead</from><mpiProcessId>0</mpiProcessId><identifier>bm452a_1"
    b"</identifier><type>DifxStatusMessage</type></header><body><seqNumber>142</seqNumber>"
    b"<difxStatus><input>/data/corr/bm452a/bm452a_1.input</input><state>Running</state><message>"
    b"</message><visibilityMJD>57028.3456019</visibilityMJD><jobstartMJD>57028.3333333</jobstartMJD>"
    b'<jobstopMJD>57028.4166667</jobstopMJD><weight ant="0" wt="0.998"/>'
    b'<weight ant="1" wt="0.972"/>'
    b"</difxStatus></body></difxMessage>"
)


def _h(mtype, **kw):
    return Header(from_host=kw.pop("host", "difxhead"), message_type=mtype, **kw)


RECORDS = [
    StatusMessage(
        header=_h("DifxStatusMessage", identifier="j_1", mpi_process_id=0, seq_number=3),
        state="Running",
        input_file="/d/j_1.input",
        message="ok",
        visibility_mjd=57028.5,
        job_start_mjd=57028.0,
        job_stop_mjd=57029.0,
        weights=((0, 0.998), (1, 0.5)),
    ),
    StatusMessage(
        header=_h("DifxStatusMessage", identifier="j_1"), state="MpiDone", visibility_mjd=0.0
    ),
    AlertMessage(
        header=_h("DifxAlertMessage", identifier="j_1", mpi_process_id=4, seq_number=0),
        message="disk <full> & slow",
        severity=2,
        input_file="/d/j_1.input",
    ),
    LoadMessage(
        header=_h("DifxLoadMessage", host="cn01", seq_number=77),
        cpu_load=3.25,
        total_memory=65_000_000,
        used_memory=1_000_000,
        net_rx_rate=12_345,
        net_tx_rate=0,
        n_core=16,
    ),
    InfoMessage(header=_h("DifxInfoMessage", seq_number=1), message="hello"),
    Mark5StatusMessage(
        header=_h("Mark5StatusMessage", host="mark5fx01", identifier="mk5daemon"),
        bank_a_vsn="NRAO+123",
        bank_b_vsn="none",
        status_word=0x00F02001,
        active_bank="A",
        state="Play",
        scan_number=4,
        scan_name="No0004",
        position=123456789012,
        play_rate=1024.0,
        data_mjd=57028.25,
        input_file="/d/j.input",
    ),
    GenericMessage(
        header=_h("DifxCommand", to=("mark5fx01", "mark5fx02")),
        body_tag="difxCommand",
        body=(BodyField(tag="command", text="getvsn"),),
    ),
    GenericMessage(
        header=_h("DifxSmartMessage", seq_number=9),
        body_tag="difxSmart",
        body=(
            BodyField(tag="vsn", text="NRAO+1"),
            BodyField(tag="smart", attrs=(("slot", "0"), ("id", "5"), ("value", "7"))),
        ),
    ),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.header.message_type)
def test_round_trip(record):
    assert parse_message(encode_message(record)) == record


def test_spec_example():
    m = parse_message(SPEC_EXAMPLE)
    assert isinstance(m, StatusMessage)
    assert m.header == Header(
        from_host="difxhead",
        message_type="DifxStatusMessage",
        identifier="bm452a_1",
        mpi_process_id=0,
        seq_number=142,
    )
    assert (m.state, m.visibility_mjd, m.weights) == (
        "Running",
        57028.3456019,
        ((0, 0.998), (1, 0.972)),
    )


def test_whitespace_wrapper_declaration_trailing_nul_and_str():
    pretty = SPEC_EXAMPLE.replace(b"><", b">\n\t  <").replace(
        b"<state>Running", b"<state>  Running "
    )
    assert parse_message(pretty) == parse_message(SPEC_EXAMPLE)
    wrapper = encode_message(RECORDS[1], declaration=WRAPPER_DECLARATION) + b"\x00"
    assert parse_message(wrapper.decode("utf-8")) == RECORDS[1]
    assert parse_message(b"  \n" + SPEC_EXAMPLE).header.seq_number == 142


def test_generic_fields_as_dict():
    assert RECORDS[7].fields == {
        "vsn": "NRAO+1",
        "smart@slot": "0",
        "smart@id": "5",
        "smart@value": "7",
    }
    assert RECORDS[2].severity_name == "ERROR"


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        (b"", "empty DiFX message"),
        (b"<difxMessage><header>", "malformed DiFX message"),
        (b"<other/>", "root element <other>"),
        (b"<difxMessage><header><from>h</from></header></difxMessage>", "without <header><type>"),
        (
            SPEC_EXAMPLE.replace(b"<state>Running</state>", b""),
            "DifxStatusMessage from 'difxhead': missing <state>",
        ),
        (SPEC_EXAMPLE.replace(b"57028.3456019", b"soon"), "visibilityMJD 'soon' is not a number"),
        (
            SPEC_EXAMPLE.replace(b"<seqNumber>142", b"<seqNumber>x"),
            "seqNumber 'x' is not an integer",
        ),
        (SPEC_EXAMPLE.replace(b'ant="1"', b'ant="b"'), "weight ant 'b' is not an integer"),
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "x">]><difxMessage/>', "DTDs and entity"),
        (
            b'<?xml version="1.0" encoding="ISO-8859-1"?><difxMessage/>',
            "declares encoding 'ISO-8859-1'",
        ),
        ("<difxMessage/>".encode("utf-16"), "must be UTF-8 XML"),
        (
            encode_message(RECORDS[5]).replace(b"0x00F02001", b"zz"),
            "statusWord 'zz' is not hexadecimal",
        ),
        (encode_message(RECORDS[3]).replace(b"<nCore>16</nCore>", b""), "missing <nCore>"),
        (
            encode_message(RECORDS[3]).replace(b"65000000", b"lots"),
            "totalMemory 'lots' is not an integer",
        ),
        (encode_message(RECORDS[2]).replace(b"<severity>2", b"<severity>x"), "severity 'x' is not"),
        (b'<?xml version="1.0" encoding="UTF-8"', "unterminated XML declaration"),
    ],
)
def test_bad_documents(doc, error):
    with pytest.raises(RemoteProtocolError, match=error.replace("(", r"\(").replace("<", "<")):
        parse_message(doc)


_WORDS = st.text("xyz!?#", min_size=1, max_size=6)
_WHERE = "DifxStatusMessage from 'difxhead'"


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(
        [
            ("<seqNumber>142", "<seqNumber>{}", "seqNumber {!r} is not an integer"),
            ("57028.3456019", "{}", "visibilityMJD {!r} is not a number"),
            ("57028.3333333", "{}", "jobstartMJD {!r} is not a number"),
            ('wt="0.972"', 'wt="{}"', "weight wt {!r} is not a number"),
            ('ant="1"', 'ant="{}"', "weight ant {!r} is not an integer"),
            ("<mpiProcessId>0", "<mpiProcessId>{}", "mpiProcessId {!r} is not an integer"),
        ]
    ),
    _WORDS,
)
def test_one_broken_field_of_a_status_document(case, junk):
    """The spec's status example with one numeric field replaced by text: the exact reason."""
    old, new, reason = case
    doc = SPEC_EXAMPLE.replace(old.encode(), new.format(junk).encode(), 1)
    with pytest.raises(RemoteProtocolError) as e:
        parse_message(doc)
    assert reason.format(junk) in str(e.value)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(
        1, len(SPEC_EXAMPLE) - len(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n') - 1
    )
)
def test_a_truncated_status_document_is_malformed(cut):
    with pytest.raises(RemoteProtocolError, match=r"malformed DiFX message|empty DiFX message"):
        parse_message(SPEC_EXAMPLE[:-cut])


@settings(max_examples=100, deadline=None)
@given(
    st.text(max_size=40),
    st.integers(-1, 200),
    st.integers(0, 6),
)
def test_any_text_round_trips_in_alerts(text, mpi, severity):
    # XML 1.0 cannot carry most control characters (DiFX writes them as [[ nn]] itself), and
    # UTF-8 cannot carry lone surrogates.
    clean = "".join(
        c if (c >= " " or c in "\t\n") and not "\ud800" <= c <= "\udfff" else "?" for c in text
    ).strip()
    rec = AlertMessage(
        header=_h("DifxAlertMessage", mpi_process_id=mpi), message=clean, severity=severity
    )
    try:
        assert parse_message(encode_message(rec)) == rec
    except RemoteProtocolError as e:
        # Only characters XML forbids outright (e.g. U+FFFE) may be refused.
        assert "malformed" in str(e)


def _fresh(doc):
    """The reference: a parser of its own for the document (what parse_message did before
    it kept one parser open across documents)."""
    from xml.etree import ElementTree

    from socs_like_agents.difx_relay.messages import _build, _checked_body

    parser = ElementTree.XMLParser()
    try:
        parser.feed(_checked_body(doc.strip(b" \t\r\n\x00")))
        root = parser.close()
    except ElementTree.ParseError as e:
        return f"malformed DiFX message: {e}"
    except RemoteProtocolError as e:
        return str(e)
    if root.tag != "difxMessage":
        return f"not a DiFX message: root element <{root.tag}>"
    try:
        return _build(root)
    except RemoteProtocolError as e:
        return str(e)


_GOOD = encode_message(RECORDS[0])
_BROKEN = st.sampled_from(
    [
        _GOOD[:-20],  # cut: leaves elements open
        _GOOD + b"junk",  # text after the root
        _GOOD.replace(b"<difxMessage>", b"<difxMessage><x>", 1),  # unclosed inside
        _GOOD + _GOOD.split(b"?>", 1)[1],  # two roots
        b"<!-- c --><difxMessage><header><type>T</type></header></difxMessage>",
        b"<a>",
        b"</s><difxMessage/>",  # tries to close the shared parser's outer element
        b"<z/>",
        SPEC_EXAMPLE,
        _GOOD,
    ]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_BROKEN, min_size=1, max_size=12))
def test_a_shared_parser_gives_each_document_its_own_result(docs):
    """Documents parsed one after the other (broken ones among them) each give exactly what a
    parser of their own gives: nothing of one leaks into the next."""
    for doc in docs:
        try:
            got = parse_message(doc)
        except RemoteProtocolError as e:
            got = str(e)
        assert got == _fresh(doc), doc


# ------------------------------------------------------------------ feed payloads
# Every record type lands on its feed with its documented fields, JSON-safe.

EXPECTED = {
    "DifxStatusMessage": ("difx_status", StatusEvent),
    "DifxAlertMessage": ("difx_alerts", AlertEvent),
    "DifxLoadMessage": ("difx_load", LoadSample),
    "DifxInfoMessage": ("difx_info", InfoEvent),
    "Mark5StatusMessage": ("mark5_status", Mark5Event),
    "DifxCommand": ("difx_other", OtherEvent),
    "DifxSmartMessage": ("difx_other", OtherEvent),
}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.header.message_type)
def test_each_record_on_its_feed(record):
    msg = parse_message(encode_message(record))
    feed, payload = feed_event(msg, now=1000.0, seq_gap=2, progress=50.0)
    name, shape = EXPECTED[record.header.message_type]
    assert feed == name
    assert set(payload) == set(shape.__annotations__)
    assert json.loads(json.dumps(payload)) == payload


def test_status_and_load_values():
    _, status = feed_event(
        parse_message(encode_message(RECORDS[0])), now=5.0, seq_gap=1, progress=50.0
    )
    assert status["job"] == "j_1" and status["progress"] == 50.0 and status["seq_gap"] == 1
    assert status["weights"] == {"0": 0.998, "1": 0.5}
    _, load = feed_event(parse_message(encode_message(RECORDS[3])), now=5.0, seq_gap=0, progress=0)
    assert load == {
        "block_name": "cn01",
        "timestamp": 5.0,
        "data": {
            "cpu_load": 3.25,
            "total_memory": 65_000_000,
            "used_memory": 1_000_000,
            "net_rx_rate": 12_345,
            "net_tx_rate": 0,
            "n_core": 16,
        },
    }


def test_smart_messages_keep_every_smart_element():
    doc = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<difxMessage><header><from>mark5fx01</from>'
        b"<mpiProcessId>-1</mpiProcessId><identifier>mk5daemon</identifier>"
        b"<type>DifxSmartMessage</type></header><body><seqNumber>3</seqNumber><difxSmart>"
        b"<mjd>60000.5</mjd><vsn>NRAO+123</vsn><slot>0</slot>"
        b'<smart id="5" value="0"/><smart id="9" value="1234"/><smart id="194" value="35"/>'
        b"</difxSmart></body></difxMessage>"
    )
    feed, payload = feed_event(parse_message(doc), now=1.0, seq_gap=0, progress=0.0)
    assert feed == "difx_other"
    assert payload["repeated"] == {
        "smart": [
            {"id": "5", "value": "0"},
            {"id": "9", "value": "1234"},
            {"id": "194", "value": "35"},
        ]
    }
    assert payload["fields"]["vsn"] == "NRAO+123"
    one = doc.replace(b'<smart id="9" value="1234"/><smart id="194" value="35"/>', b"")
    _, payload = feed_event(parse_message(one), now=1.0, seq_gap=0, progress=0.0)
    assert payload["repeated"] == {"smart": [{"id": "5", "value": "0"}]}
