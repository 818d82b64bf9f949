"""Run folder names and remote paths: nothing from a caller escapes where it belongs."""

import posixpath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socs_like_agents.daq_worker.errors import RequestError
from socs_like_agents.daq_worker.paths import check_within, expand_home, is_within
from socs_like_agents.daq_worker.runs import RunId

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


@settings(max_examples=300, deadline=None, suppress_health_check=[SLOW_MACHINE])
@given(st.text(max_size=80), st.integers(-5, 2_000_000))
def test_any_accepted_run_stays_two_levels_below_its_parent(name, number):
    try:
        run = RunId(name, number)
    except RequestError:
        return
    joined = posixpath.normpath(posixpath.join("/data", run.folder))
    assert posixpath.dirname(posixpath.dirname(joined)) == "/data"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("~", "/home/attpc"),
        ("~/logs/x.log", "/home/attpc/logs/x.log"),
        ("logs/x.log", "/home/attpc/logs/x.log"),
        ("/var/log/../log/a", "/var/log/a"),
    ],
)
def test_expand_home(path, expected):
    assert expand_home(path, "/home/attpc") == expected


def test_other_users_home_is_refused():
    with pytest.raises(RequestError, match="only ~ of the login user"):
        expand_home("~root/x", "/home/attpc")


def test_paths_outside_roots_are_refused():
    assert check_within("/home/attpc/logs/a", ["/home/attpc"]) == "/home/attpc/logs/a"
    with pytest.raises(RequestError, match="outside the allowed roots: /home/attpc"):
        check_within(expand_home("~/../../etc/passwd", "/home/attpc"), ["/home/attpc"])
    assert not is_within("/home/attpcX", "/home/attpc")
    assert is_within("/anything", "/")


@settings(max_examples=300, deadline=None, suppress_health_check=[SLOW_MACHINE])
@given(st.text(alphabet="ab./~\\", max_size=30))
def test_expanded_paths_under_a_root_really_are(path):
    try:
        expanded = expand_home(path, "/home/u")
        check_within(expanded, ["/home/u/data"])
    except RequestError:
        return
    assert expanded == "/home/u/data" or expanded.startswith("/home/u/data/")
    assert ".." not in expanded.split("/")
