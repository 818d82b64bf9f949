"""Feed payloads: every record type lands on its feed with its documented fields, JSON-safe."""

import json

import pytest
from test_difx_messages import RECORDS

from socs_like_agents.difx_relay.feeds import (
    AlertEvent,
    InfoEvent,
    LoadSample,
    Mark5Event,
    OtherEvent,
    StatusEvent,
    feed_event,
)
from socs_like_agents.difx_relay.messages import encode_message, parse_message

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
