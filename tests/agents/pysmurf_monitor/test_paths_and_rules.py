"""Remote path rules, confinement, deletability, metadata naming, registration."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like.paths import Roots
from socs_like_agents.pysmurf_monitor.datagrams import DataFile, Envelope, G3File, Metadata
from socs_like_agents.pysmurf_monitor.errors import PathRejected
from socs_like_agents.pysmurf_monitor.metadata import feed_sample, safe_name, stream_id
from socs_like_agents.pysmurf_monitor.paths import (
    DeletabilityRules,
    check_local_path,
    smurf_remote_path,
    timestream_remote_path,
)
from socs_like_agents.pysmurf_monitor.registration import RegistrationRules, new_file

# WAMP clients left connected by earlier tests in this process mask their WebSocket frames
# with the global `random` module from another thread; Hypothesis takes that for a strategy
# using `random` and warns. Our strategies don't.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

ENV = Envelope(host="h", id="ufm_mv19", script="s", time=1722716193.5, seq_no=1, type="data_file")
RULES = RegistrationRules(local_roots=Roots(["/data"]))


def data_file(**kw) -> DataFile:
    base = {
        "envelope": ENV,
        "path": "/data/smurf_data/20240803/ufm_mv19/1722715985/plots/1722716193_asd_summary.png",
        "file_type": "plot",
        "format": "png",
        "timestamp": 1722716193.0,
        "action": "uxm_relock",
        "action_ts": "1722715985",
        "plot": True,
        "archive_name": "smurf",
    }
    base.update(kw)
    return DataFile(**base)


def test_smurf_remote_path_matches_the_spec_example() -> None:
    row = new_file(data_file(), RULES, now=5.0)
    assert (
        row.remote_path == "17227/ufm_mv19/1722715985_uxm_relock/plots/1722716193_asd_summary.png"
    )
    assert (row.archive_name, row.timestamp, row.deletable) == ("smurf", 5.0, True)


def test_missing_action_gets_an_explicit_folder() -> None:
    assert (
        new_file(data_file(action=None, action_ts=None, plot=False), RULES, 5.0).remote_path
        == "17227/ufm_mv19/unknown_no_action/outputs/1722716193_asd_summary.png"
    )
    assert (
        new_file(data_file(action=None), RULES, 5.0).remote_path.split("/")[2]
        == "1722715985_no_action"
    )


def test_missing_timestamp_falls_back_to_the_datagram_time() -> None:
    assert new_file(data_file(timestamp=None), RULES, 5.0).remote_path.startswith("17227/")


def test_timestream_remote_path_is_the_last_three_components() -> None:
    g3 = G3File(
        envelope=ENV,
        path="/data/so/timestreams/17320/ufm_mv27/1732022318_000.g3",
        archive_name="timestreams",
    )
    row = new_file(g3, RULES, now=1.0)
    assert (row.remote_path, row.deletable) == ("17320/ufm_mv27/1732022318_000.g3", True)


@pytest.mark.parametrize(
    "announcement,reason,text",
    [
        (
            data_file(path="/data/../etc/passwd"),
            "unsafe_path",
            "local path '/data/../etc/passwd' refused (dotdot): contains a '..' component",
        ),
        (
            data_file(path="relative/x.png"),
            "unsafe_path",
            "local path 'relative/x.png' refused (relative): must be absolute",
        ),
        (
            data_file(path="/data/x\n.png"),
            "unsafe_path",
            "refused (control): contains a control character",
        ),
        (
            data_file(path="/etc/passwd"),
            "outside_roots",
            "local path '/etc/passwd' refused (outside_roots): is outside the allowed roots: /data",
        ),
        (data_file(path="/database/x"), "outside_roots", "is outside the allowed roots"),
        (data_file(action="../../x"), "unsafe_path", "action folder '1722715985_../../x' refused"),
        (
            data_file(
                envelope=Envelope(
                    host="", id="..", script="", time=None, seq_no=None, type="data_file"
                )
            ),
            "unsafe_path",
            "publisher id '..' refused (dotdot)",
        ),
        (data_file(timestamp=12.0), "bad_timestamp", "not a 10-digit time"),
        (data_file(archive_name="../x"), "unsafe_path", "archive name '../x' refused (not_normal)"),
        (
            G3File(envelope=ENV, path="/data/x.g3", archive_name="timestreams"),
            "unsafe_path",
            "fewer than 3 components",
        ),
    ],
)
def test_paths_that_would_escape_are_rejected(announcement, reason, text) -> None:
    with pytest.raises(PathRejected) as err:
        new_file(announcement, RULES, 1.0)
    assert text in str(err.value)
    assert err.value.reason == reason


component = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=0, max_size=12)


@settings(max_examples=300, deadline=None)
@given(pub=component, action=component, action_ts=component, name=component)
def test_a_remote_path_never_escapes_the_base_dir(pub, action, action_ts, name) -> None:
    try:
        remote = smurf_remote_path(
            local_path=f"/data/x/{name}",
            publisher_id=pub,
            timestamp=1722716193.0,
            action=action or None,
            action_ts=action_ts or None,
            plot=False,
        )
    except PathRejected:
        return
    parts = remote.split("/")
    assert len(parts) == 5 and not remote.startswith("/")
    assert all(p and p not in (".", "..") for p in parts)


@settings(max_examples=200, deadline=None)
@given(st.lists(component, min_size=1, max_size=6))
def test_timestream_paths_and_local_confinement_never_escape(parts) -> None:
    path = "/data/" + "/".join(parts)
    try:
        local = check_local_path(path, Roots(["/data"]))
        remote = timestream_remote_path(local)
    except PathRejected:
        return
    assert local.startswith("/data/") and ".." not in local.split("/")
    assert all(p and p not in (".", "..") for p in remote.split("/"))


def test_old_deletability_rule_is_the_default() -> None:
    rules = DeletabilityRules()
    dated = "/data/smurf_data/20240803/ufm_mv19/1722715985/outputs/"
    assert rules.deletable("smurf", dated + "1722716193_asd.npy")
    assert not rules.deletable("smurf", dated + "1722716193_tune.npy")
    assert not rules.deletable("smurf", dated + "1722716193_iv_info.npy")
    assert not rules.deletable("smurf", dated + "1722716193_channel_assignment_b0.txt")
    assert not rules.deletable("smurf", "/data/smurf_data/tune/1722716193_x.npy")
    assert rules.deletable("timestreams", "/data/so/timestreams/17320/a/1_tune.g3")


def test_deletability_is_configurable() -> None:
    rules = DeletabilityRules(dated_dir=r"^/srv/smurf/\d{8}/", keep=(r"^keep_",))
    assert rules.deletable("smurf", "/srv/smurf/20240803/a/tune.npy")
    assert not rules.deletable("smurf", "/srv/smurf/20240803/a/keep_me.npy")


def test_metadata_names_and_values() -> None:
    assert stream_id("STREAMER:ufm_mv27") == "ufm_mv27" and stream_id("crate1") == "crate1"
    assert (
        safe_name("AMCc.FpgaTopLevel.AppTop.Base[0].band") == "AMCc_FpgaTopLevel_AppTop_Base_0_band"
    )
    assert safe_name("0.x") == "_0_x" and safe_name("...") == ""
    assert len(safe_name("a" * 400)) == 255 and safe_name("a" * 400) != safe_name("a" * 401)
    env = Envelope(host="", id="STREAMER:ufm_mv27", script="", time=10.0, seq_no=1, type="metadata")
    s = feed_sample(Metadata(envelope=env, path="A.b", value=True, value_type="bool"), now=1.0)
    assert s.feed == "ufm_mv27_meta"
    assert s.sample == {"block_name": "A_b", "timestamp": 10.0, "data": {"A_b": 1}}
    s = feed_sample(Metadata(envelope=env, path="A.c", value=[1, 2], value_type="list"), now=1.0)
    assert s.sample["data"] == {"A_c": "[1, 2]"}
    assert feed_sample(Metadata(envelope=env, path="..", value=1, value_type=None), 1.0) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_safe_names_obey_the_feed_field_rule(text) -> None:
    import re

    name = safe_name(text)
    assert name == "" or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", name)
