"""A packed event that does not decode, sent through the real hub to a recorder: refused and
counted with why, like any malformed event, and the next good event is recorded. It used to
raise in the hub session's dispatch, where autobahn logged it and nobody counted it."""

from __future__ import annotations

from typing import Any

from autobahn.wamp.types import PublishOptions

from socs_like.client import AsyncClient, run_sync
from socs_like.packing import pack_blocks
from socs_like.secrets import load_secrets
from socs_like.testing import wait_until

from ..file_recorder.test_file_recorder import recording

TOPIC = "observatory.fd-bad.feeds.temps"
INFO = {
    "agent_address": "observatory.fd-bad",
    "feed_name": "temps",
    "address": TOPIC,
    "record": True,
    "agg_params": {},
    "seq_count": 1,
}


def test_a_packed_event_that_does_not_decode_is_counted_bad_and_the_next_recorded(
    tmp_path, hub, inprocess_agent, make_client
):
    inprocess_agent("FileRecorder", "rec-bad", "--data-dir", str(tmp_path))
    recorder = make_client("rec-bad")
    recording(recorder)
    credentials = load_secrets(hub.secrets_file).agent_credentials("fd-bad")
    sender = AsyncClient("fd-bad", hub_url=hub.url, timeout=5, credentials=credentials)
    good = pack_blocks({"b": {"block_name": "b", "timestamps": [1.0], "data": {"v": [2.0]}}})
    bad = {"b": {"block_name": "b", "timestamps": b"z" + bytes(8), "data": {}}}

    async def publish() -> None:  # as the agent fd-bad would, in the order bad, good
        session = await sender._transport.connect()
        for seq_no, payload in enumerate([bad, good]):
            info = INFO | {"seq_no": seq_no, "packed": 1}
            await session.publish(TOPIC, [payload, info], options=PublishOptions(acknowledge=True))

    run_sync(publish(), 10)

    def taken() -> dict[str, Any] | None:
        intake = recorder.record.status().session["data"].get("intake", {})
        return intake if intake.get("events") else None

    intake = wait_until(taken, 10, message="the good event taken")
    assert intake["bad_events"] == 1 and intake["events"] == 1 and intake["samples"] == 1
    assert intake["last_error"].startswith(f"{TOPIC}: not a packed column")
    run_sync(sender.close(), 10)
