"""The md5sum output parser: every name md5sum can print comes back, garbage never raises."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socs_like.testing import md5_hex
from socs_like_agents.suprsync.md5sum_output import parse_md5sum

# Hypothesis warns when the global `random` moves while it draws examples. Here that is the
# hub client's background thread left by the agent tests of this session, not our strategies.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
)

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1
).filter(lambda n: n.strip(" ") == n and n != "")
digests = st.binary(max_size=8).map(md5_hex)


def md5sum_line(name: str, digest: str) -> str:
    """What GNU md5sum prints for one file (escaping as coreutils 9 does)."""
    if any(c in name for c in "\\\n\r"):
        esc = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{digest}  {esc}\n"
    return f"{digest}  {name}\n"


def test_plain_and_escaped_lines():
    out = (
        b"\\92eb5ffee6ae2fec3ad71c777531578f  n\\nl\n"
        b"4a8a08f09d37b73795649038408b5f33  plain sp\n"
        b"\\0cc175b9c0f1b6a831c399e269772661  x\\\\y\n"
        b"9E107D9D372BB6826BD81D3542A419D6 *binary\n"
    )
    listing = parse_md5sum(out)
    assert listing.digests == {
        "n\nl": "92eb5ffee6ae2fec3ad71c777531578f",
        "plain sp": "4a8a08f09d37b73795649038408b5f33",
        "x\\y": "0cc175b9c0f1b6a831c399e269772661",
        "binary": "9e107d9d372bb6826bd81d3542a419d6",
    }
    assert listing.bad_lines == ()


def test_bad_lines_are_returned_not_raised():
    out = (
        b"md5sum: gone.g3: No such file or directory\n"
        b"0cc175b9c0f1b6a831c399e26977266  short\n"
        b"\\0cc175b9c0f1b6a831c399e269772661  bad\\qescape\n"
        b"0cc175b9c0f1b6a831c399e269772661  ok\n"
        b"92eb5ffee6ae2fec3ad71c777531578f  ok\n"
    )
    listing = parse_md5sum(out)
    assert listing.digests == {"ok": "0cc175b9c0f1b6a831c399e269772661"}
    assert len(listing.bad_lines) == 4


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(names, digests, max_size=8))
def test_round_trip(files):
    out = "".join(md5sum_line(n, d) for n, d in files.items()).encode("utf-8", "surrogateescape")
    listing = parse_md5sum(out)
    assert listing.digests == files
    assert listing.bad_lines == ()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_garbage_never_raises(data):
    listing = parse_md5sum(data)
    for name, digest in listing.digests.items():
        assert len(digest) == 32 and name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(names, digests, min_size=1, max_size=5), st.data())
def test_truncated_output_keeps_whole_lines(files, data):
    out = "".join(md5sum_line(n, d) for n, d in files.items()).encode()
    cut = data.draw(st.integers(0, len(out)))
    listing = parse_md5sum(out[:cut])
    # a line cut short is never trusted: what came back is exactly the whole lines
    whole = out[:cut].decode(errors="surrogateescape").count("\n")
    assert listing.digests == dict(list(files.items())[:whole])
