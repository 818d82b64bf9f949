"""Run folder names and remote paths: nothing from a caller escapes where it belongs."""

import posixpath
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socs_like_agents.daq_worker.errors import RequestError
from socs_like_agents.daq_worker.paths import confine, expand_home, worker_roots
from socs_like_agents.daq_worker.runs import EXPERIMENT_RE, RunId

# a loaded machine (CI, shared dev boxes) makes generation slow, never wrong
SLOW_MACHINE = HealthCheck.too_slow


def test_run_folder_is_zero_padded():
    assert RunId("e22508", 7).folder == "e22508/run_0007"
    assert RunId("e22508", 12345).folder == "e22508/run_12345"


@pytest.mark.parametrize(
    "name", ["..", ".", "../etc", "a/b", "/abs", "", ".hidden", "a\0b", "x" * 65, "é", None, 3]
)
def test_bad_experiment_names_are_refused(name):
    with pytest.raises(RequestError, match="invalid experiment name"):
        RunId(name, 1)


@pytest.mark.parametrize("number", [-1, 1_000_000, True, "7", 7.0, None])
def test_bad_run_numbers_are_refused(number):
    with pytest.raises(RequestError, match="invalid run number"):
        RunId("e1", number)


def test_any_accepted_run_stays_two_levels_below_its_parent():
    """Names from the rule's own pattern (accepted) and any text (mostly refused)."""
    outcomes = Counter()

    @settings(max_examples=300, deadline=None, suppress_health_check=[SLOW_MACHINE])
    @given(
        st.one_of(st.from_regex(EXPERIMENT_RE, fullmatch=True), st.text(max_size=80)),
        st.integers(-5, 2_000_000),
    )
    def check(name, number):
        try:
            run = RunId(name, number)
        except RequestError:
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        joined = posixpath.normpath(posixpath.join("/data", run.folder))
        assert posixpath.dirname(posixpath.dirname(joined)) == "/data"
        assert joined == f"/data/{name}/run_{number:04d}"

    check()
    assert outcomes["accepted"] >= 30 and outcomes["refused"] >= 30, outcomes


HOME = "/home/attpc"
ROOTS = worker_roots(["~/data", "/var/log/daq"], HOME)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("~/data", "/home/attpc/data"),
        ("~/data/logs/x.log", "/home/attpc/data/logs/x.log"),
        ("data/x.log", "/home/attpc/data/x.log"),
        ("/var/log/daq//a/./b", "/var/log/daq/a/b"),
    ],
)
def test_user_paths_are_expanded_and_confined(path, expected):
    assert confine(path, HOME, ROOTS) == expected


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("~", "outside_roots"),
        ("~/../../etc/passwd", "dotdot"),
        ("/var/log/../log/daq/a", "dotdot"),
        ("/var/log/daqx", "outside_roots"),
        ("", "empty"),
        ("~/data/a\0b", "nul"),
        ("~/data/a\nb", "control"),
    ],
)
def test_user_paths_outside_or_hostile_are_refused_by_rule(path, rule):
    with pytest.raises(RequestError, match=rf"refused \({rule}\)"):
        confine(path, HOME, ROOTS, "file")


def test_other_users_home_is_refused():
    with pytest.raises(RequestError, match="only ~ of the login user"):
        expand_home("~root/x", HOME)
    with pytest.raises(RequestError, match="only ~ of the login user"):
        confine("~root/data/x", HOME, ROOTS)


# pieces that spell paths inside the roots as well as outside: the home and root names,
# `~`, `.`, `..`, an empty piece (a double slash) and a stranger
PIECES = st.sampled_from(["~", "data", "home", "attpc", "var", "log", "daq", "x", "..", ".", ""])


@st.composite
def user_paths(draw):
    start = draw(st.sampled_from(["~", "~/data", "/home/attpc", "/var/log/daq", "/var", "", "/"]))
    rest = draw(st.lists(PIECES, max_size=4))
    return "/".join([start, *rest]) if rest else start


def model_inside(path: str) -> bool:
    """Confinement said another way: a path is accepted when it has no `..` and, with `~`
    (leading) and relative paths taken from the home, it names a root or lies below one."""
    if not path or ".." in path.split("/"):
        return False
    if path.startswith("~") and not (path == "~" or path.startswith("~/")):
        return False
    text = HOME + path[1:] if path.startswith("~") else path
    text = text if text.startswith("/") else f"{HOME}/{text}"
    parts = [p for p in posixpath.normpath(text).split("/") if p]
    return parts[:3] == ["home", "attpc", "data"] or parts[:3] == ["var", "log", "daq"]


def test_confined_paths_are_inside_and_refused_ones_outside():
    """The same function the interface calls, on inputs landing on both sides."""
    outcomes = Counter()

    @settings(max_examples=400, deadline=None, suppress_health_check=[SLOW_MACHINE])
    @given(user_paths())
    def check(path):
        try:
            got = confine(path, HOME, ROOTS)
        except RequestError:
            outcomes["refused"] += 1
            assert not model_inside(path), path
            return
        outcomes["accepted"] += 1
        assert model_inside(path), path
        assert ROOTS.contains(got) and ".." not in got.split("/")

    check()
    assert outcomes["accepted"] >= 50 and outcomes["refused"] >= 50, outcomes
