"""Sans-I/O parts of SupRsync: command lines, remote paths, the batch tree, verdicts, timecodes,
retention rules."""

import shlex

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socs_like.commands import SshSettings
from socs_like_agents.filedb.queries import BatchFile
from socs_like_agents.suprsync.commands import (
    RsyncOptions,
    SshTarget,
    md5sum_argv,
    nul_list,
    rsync_argv,
)
from socs_like_agents.suprsync.errors import SshTargetError, SupRsyncError
from socs_like_agents.suprsync.md5sum_output import Md5Listing
from socs_like_agents.suprsync.retention import RetentionPolicy, Rule, RuleError, parse_duration
from socs_like_agents.suprsync.timecodes import finalization, is_completed, subdir_of
from socs_like_agents.suprsync.tree import Placed, build_symlink_tree
from socs_like_agents.suprsync.verdicts import Verdict, judge_batch

# Hypothesis warns when the global `random` moves while it draws examples. Here that is the
# hub client's background thread left by the agent tests of this session, not our strategies.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
)

A = "0cc175b9c0f1b6a831c399e269772661"
B = "92eb5ffee6ae2fec3ad71c777531578f"


# -- command lines -------------------------------------------------------------------------


def test_ssh_options_are_safe_by_default():
    settings = SshSettings(identity_file="/k/id", connect_timeout=7)
    argv = SshTarget(host="data@archive", port=2222, settings=settings).argv()
    joined = " ".join(argv)
    for opt in (
        "BatchMode=yes",
        "ConnectTimeout=7",
        "StrictHostKeyChecking=yes",
        "IdentitiesOnly=yes",
        "ServerAliveInterval=5",
    ):
        assert f"-o {opt}" in joined
    assert argv[-4:] == ["-i", "/k/id", "-p", "2222"]


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"host": "-oProxyCommand=x"}, "not a host name"),
        ({"host": "a b"}, "not a host name"),
        ({"host": "h:22"}, "--ssh-port"),
        ({"host": "h", "port": 70000}, "out of range"),
    ],
)
def test_bad_ssh_targets_are_refused(kwargs, text):
    with pytest.raises(SshTargetError, match=text) as caught:
        SshTarget(**kwargs)
    assert isinstance(caught.value, SupRsyncError)


def test_a_key_path_with_a_quote_is_refused():
    with pytest.raises(ValueError, match="may not contain a quote"):
        SshSettings(identity_file="/k/it's")


def test_rsync_argv_over_ssh():
    ssh = SshTarget(
        host="archive", settings=SshSettings(identity_file="/keys/my key", known_hosts="/kh")
    )
    argv = rsync_argv(
        "/tmp/batch",
        "/data/arch ive",
        ssh,
        RsyncOptions(compression=True, bwlimit="5m", io_timeout=30),
    )
    assert argv[:3] == ["rsync", "-LrtI", "-s"]
    assert "--chmod=g+rwX,o+rX" in argv and "-z" in argv and "--bwlimit=5m" in argv
    assert "--timeout=30" in argv
    rsh = argv[argv.index("-e") + 1]
    assert "'/keys/my key'" in rsh and "UserKnownHostsFile=/kh" in rsh
    assert argv[-2:] == ["/tmp/batch/", "archive:/data/arch ive/"]


def test_rsync_argv_local_path_with_colon_stays_local():
    argv = rsync_argv("/tmp/b/", "odd:dir", None, RsyncOptions(chmod=None))
    assert "-e" not in argv and "--chmod" not in " ".join(argv)
    assert argv[-1] == "./odd:dir/"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(
        alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), min_size=1
    )
)
def test_md5sum_script_quotes_the_base_dir(basedir):
    argv = md5sum_argv(SshTarget(host="h"), basedir)
    script = argv[-1]
    # the remote shell sees the base dir as exactly one word
    words = shlex.split(script)
    assert words[:3] == ["cd", "--", basedir]
    assert words[3:] == ["&&", "xargs", "-0", "-r", "md5sum", "--"]


def test_md5sum_local_runs_through_sh():
    assert md5sum_argv(None, "/a")[:2] == ["sh", "-c"]
    assert nul_list(["a/b", "c d"]) == b"a/b\0c d\0"


# -- remote paths and the batch tree -------------------------------------------------------


# The remote-path rules are the shared confinement's (socs_like.paths.check_relative), with
# their table of hostile paths in tests/socs_like; here: the tree applies them per file.


def test_symlink_tree_refuses_files_alone(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "one").write_bytes(b"1")
    (src / "two").write_bytes(b"2")
    (src / "three").write_bytes(b"3")
    root = tmp_path / "tree"
    root.mkdir()
    placed = build_symlink_tree(
        str(root),
        [
            (1, str(src / "one"), "17227/a/one"),
            (2, str(src / "gone"), "17227/a/gone"),
            (3, str(src / "two"), "17227/a/one"),  # same target as file 1
            (4, str(src / "two"), "../escape"),
            (5, str(src / "three"), "17227/a/one/x"),  # needs a folder where file 1 is
            (6, str(src / "three"), "17227/b/three"),
        ],
    )
    assert placed.linked == {1: "17227/a/one", 6: "17227/b/three"}
    assert placed.refused[2] == f"local file {src / 'gone'} is missing"
    assert "also the target of file 1" in placed.refused[3]
    assert placed.refused[4] == (
        "remote path '../escape' refused (dotdot): contains a '..' component"
    )
    assert "cannot place" in placed.refused[5]
    assert (root / "17227/b/three").read_bytes() == b"3"


# -- verdicts ------------------------------------------------------------------------------


def test_each_file_is_judged_alone():
    batch = [
        BatchFile(id=1, local_path="/l/1", local_md5sum=A, remote_path="r/1"),
        BatchFile(id=2, local_path="/l/2", local_md5sum=A, remote_path="r/2"),
        BatchFile(id=3, local_path="/l/3", local_md5sum=A.upper(), remote_path="r/3"),
        BatchFile(id=4, local_path="/l/4", local_md5sum=A, remote_path="r/4"),
    ]
    placed = Placed({1: "r/1", 2: "r/2", 3: "r/3"}, {4: "local file /l/4 is missing"})
    results = judge_batch(
        batch, placed, Md5Listing({"r/1": A, "r/2": B, "r/3": A}), rsync_finished=True
    )
    by_id = {r.id: r for r in results}
    assert by_id[1].verdict is Verdict.VERIFIED and not by_id[1].failed_attempt
    assert by_id[2].verdict is Verdict.MISMATCH and by_id[2].remote_md5sum == B
    assert by_id[3].verdict is Verdict.VERIFIED
    assert by_id[4].verdict is Verdict.NOT_SENT and not by_id[4].sent
    assert [r.failed_attempt for r in results] == [False, True, False, True]

    missing = judge_batch(batch[:1], Placed({1: "r/1"}, {}), Md5Listing({}), rsync_finished=True)
    assert missing[0].verdict is Verdict.NOT_ARRIVED and missing[0].failed_attempt
    # after an rsync that broke off, a file not there yet is not the file's fault
    broken = judge_batch(batch[:1], Placed({1: "r/1"}, {}), Md5Listing({}), rsync_finished=False)
    assert broken[0].verdict is Verdict.UNCHECKED and not broken[0].failed_attempt


def test_unreachable_remote_charges_no_attempt_but_missing_local_does():
    batch = [
        BatchFile(id=1, local_path="/l/1", local_md5sum=A, remote_path="r/1"),
        BatchFile(id=2, local_path="/l/2", local_md5sum=A, remote_path="r/2"),
    ]
    results = judge_batch(batch, Placed({1: "r/1"}, {2: "gone"}), None, rsync_finished=True)
    assert [(r.verdict, r.failed_attempt) for r in results] == [
        (Verdict.UNCHECKED, False),
        (Verdict.NOT_SENT, True),
    ]


# -- timecodes -----------------------------------------------------------------------------


def test_completion_rule():
    now = 17230 * 1e5 + 5
    assert is_completed(17228, 17229, now)
    assert not is_completed(17229, 17229, now)
    assert is_completed(17228, None, now)  # more than one timecode old
    assert not is_completed(17229, None, now)
    assert subdir_of("17227/ufm_mv19/x/y") == "ufm_mv19"
    assert subdir_of("17227/file") is None


def test_finalization_document(tmp_path):
    now = 1723000012.5
    fin = finalization(
        timecode=17228,
        archive_name="smurf",
        instance_id="sync-smurf",
        num_files=3,
        subdirs=["b", "a"],
        finalized_until=1722999000.0,
        now=now,
        file_root=str(tmp_path),
    )
    name = "1723000012_smurf_17228_finalized.yaml"
    assert fin.local_path == str(tmp_path / "17230/sync-smurf" / name)
    assert fin.remote_path == "17230/suprsync/sync-smurf/1723000012_smurf_17228_finalized.yaml"
    assert yaml.safe_load(fin.text) == {
        "timecode": 17228,
        "num_files": 3,
        "subdirs": ["a", "b"],
        "finalized_at": now,
        "finalized_until": 1722999000.0,
        "archive_name": "smurf",
        "instance_id": "sync-smurf",
    }


# -- retention -----------------------------------------------------------------------------


def test_retention_rules_first_match_wins():
    policy = RetentionPolicy(
        (Rule.parse("*/plots/*=1d"), Rule.parse("*.tune*=never"), Rule.parse("*=7d")),
        default=60.0,
    )
    assert policy.keep_for("17227/u/1_a/plots/x.png") == 86400
    assert policy.keep_for("17227/u/1_a/outputs/x.tune.npy") is None
    assert policy.keep_for("17227/u/1_a/outputs/x.npy") == 7 * 86400
    assert policy.shortest == 60.0
    assert policy.is_due("17227/u/1_a/plots/x.png", verified_at=0, now=86400)
    assert not policy.is_due("17227/u/1_a/plots/x.png", verified_at=1, now=86400)
    assert not policy.is_due("a.tune", verified_at=0, now=1e12)
    assert RetentionPolicy(default=5).keep_for("anything") == 5
    assert not RetentionPolicy().enabled


@pytest.mark.parametrize("text", ["nope", "=1d", "*=soon", "*=-1"])
def test_bad_rules_are_refused(text):
    with pytest.raises(RuleError):
        Rule.parse(text)


def test_durations():
    assert [parse_duration(t) for t in ("90", "90s", "1.5m", "2h", "7d")] == [
        90,
        90,
        90,
        7200,
        7 * 86400,
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["sent", "refused"]), st.sampled_from(["same", "other", "none"])),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 7),
    st.sampled_from(["same", "other", "none"]),
    st.booleans(),
)
def test_a_files_verdict_depends_on_that_file_only(files, pick, new_digest, finished):
    def judge(kinds):
        batch, linked, refused, digests = [], {}, {}, {}
        for i, (placed, digest) in enumerate(kinds):
            batch.append(
                BatchFile(id=i, local_path=f"/l/{i}", local_md5sum=A, remote_path=f"r/{i}")
            )
            if placed == "refused":
                refused[i] = "missing"
                continue
            linked[i] = f"r/{i}"
            if digest != "none":
                digests[f"r/{i}"] = A if digest == "same" else B
        return judge_batch(
            batch, Placed(linked, refused), Md5Listing(digests), rsync_finished=finished
        )

    pick %= len(files)
    before = judge(files)
    changed = list(files)
    changed[pick] = (changed[pick][0], new_digest)
    after = judge(changed)
    assert [r for i, r in enumerate(before) if i != pick] == [
        r for i, r in enumerate(after) if i != pick
    ]
