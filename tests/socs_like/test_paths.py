"""Path confinement (socs_like.paths): every hostile path refused by the rule that names it,
ordinary paths accepted, and properties whose inputs land both inside and outside the roots."""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like.ops import OpFailed
from socs_like.paths import PathRefused, Roots, check_name, check_relative

ROOTS = Roots(["/data/run", "/srv/archive/"], option="--file-root")
LONG = "a" * 256

# (path, rule) for Roots.check: every one must be refused, and by that rule
HOSTILE = [
    ("", "empty"),
    ("/data/run/../../etc/passwd", "dotdot"),
    ("/data/run/..", "dotdot"),
    ("/data/run/a/../b", "dotdot"),  # stays inside, still refused: a/link/.. is not a
    ("/data/run/a/..", "dotdot"),
    ("../data/run/x", "relative"),
    ("data/run/x", "relative"),
    ("./data/run/x", "relative"),
    ("~/x", "relative"),
    ("/etc/passwd", "outside_roots"),
    ("/", "outside_roots"),
    ("/data", "outside_roots"),
    ("/data/run2/x", "outside_roots"),  # a prefix of the text is not a parent folder
    ("/data/runx", "outside_roots"),
    ("/srv/archive-old/x", "outside_roots"),
    ("/srv", "outside_roots"),
    ("//etc/passwd", "outside_roots"),
    ("/DATA/run/x", "outside_roots"),
    ("/data/run\0/x", "nul"),
    ("/data/run/x\0.txt", "nul"),
    ("\0", "nul"),
    ("/data/run/x\n", "control"),
    ("/data/run/x\r/y", "control"),
    ("/data/run/\x1b[31m", "control"),
    ("/data/run/x\x7f", "control"),
    ("/data/run/x\ty", "control"),
    (f"/data/run/{LONG}", "name_too_long"),
    ("/data/run/" + "é" * 128, "name_too_long"),  # 256 bytes in 128 characters
    ("/data/run/" + "a/" * 2100, "too_long"),
    ("/data/run/\udcff\ud800", "encoding"),
    (b"/data/run/x", "type"),
    (None, "type"),
    (["/data/run/x"], "type"),
]

ACCEPTED = [
    ("/data/run", "/data/run"),
    ("/data/run/", "/data/run"),
    ("/data/run/x.graw", "/data/run/x.graw"),
    ("/data/run//sub/./x", "/data/run/sub/x"),
    ("/srv/archive/2024/run 7/file name.txt", "/srv/archive/2024/run 7/file name.txt"),
    ("/srv/archive/..hidden/x", "/srv/archive/..hidden/x"),
    ("/srv/archive/x..y", "/srv/archive/x..y"),
    ("/srv/archive/é", "/srv/archive/é"),
    (f"/data/run/{'a' * 255}", f"/data/run/{'a' * 255}"),
]


def test_the_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 30 and len({rule for _, rule in HOSTILE}) >= 9


@pytest.mark.parametrize(("path", "rule"), HOSTILE)
def test_hostile_path_is_refused_by_its_rule(path: object, rule: str) -> None:
    with pytest.raises(PathRefused) as caught:
        ROOTS.check(path)
    assert caught.value.rule == rule
    assert f"refused ({rule})" in str(caught.value)


@pytest.mark.parametrize(("path", "normal"), ACCEPTED)
def test_ordinary_path_is_accepted_normalised(path: str, normal: str) -> None:
    assert ROOTS.check(path) == normal


def test_messages_say_what_and_where() -> None:
    with pytest.raises(PathRefused) as caught:
        ROOTS.check("/etc/passwd", what="tail_file path")
    assert str(caught.value) == (
        "tail_file path '/etc/passwd' refused (outside_roots): is outside the allowed roots: "
        "/data/run, /srv/archive"
    )
    assert isinstance(caught.value, OpFailed) and isinstance(caught.value, ValueError)


def test_relative_paths_are_taken_from_the_base() -> None:
    assert ROOTS.check("x/y", base="/data/run") == "/data/run/x/y"
    assert ROOTS.check("/data/run/z", base="/elsewhere") == "/data/run/z"
    with pytest.raises(PathRefused, match=r"refused \(dotdot\)"):
        ROOTS.check("../run/x", base="/data/run")
    with pytest.raises(PathRefused, match=r"refused \(outside_roots\)"):
        ROOTS.check("x", base="/home/user")


def test_no_roots_refuses_everything_and_roots_must_be_absolute() -> None:
    with pytest.raises(PathRefused, match=r"refused \(no_roots\): no --allowed-root is configured"):
        Roots([], option="--allowed-root").check("/data/run/x")
    with pytest.raises(ValueError, match="--file-root 'data' must be an absolute path"):
        Roots(["data"], option="--file-root")
    assert Roots(["/"]).check("/anything/at/all") == "/anything/at/all"


HOSTILE_RELATIVE = [
    ("", "empty"),
    ("/abs/path", "absolute"),
    ("../x", "dotdot"),
    ("a/../../x", "dotdot"),
    ("a/..", "dotdot"),
    ("a//b", "not_normal"),
    ("a/./b", "not_normal"),
    ("./a", "not_normal"),
    ("a/", "not_normal"),
    ("a\0b", "nul"),
    ("a\nb", "control"),
    (LONG, "name_too_long"),
    (7, "type"),
]


@pytest.mark.parametrize(("path", "rule"), HOSTILE_RELATIVE)
def test_hostile_relative_path_is_refused(path: object, rule: str) -> None:
    with pytest.raises(PathRefused) as caught:
        check_relative(path, "remote path")
    assert caught.value.rule == rule and str(caught.value).startswith("remote path ")


def test_relative_and_name_accept_what_is_plain() -> None:
    assert check_relative("12345/pub/x.g3") == "12345/pub/x.g3"
    assert check_relative("..x/y..") == "..x/y.."
    assert check_name("1723456789_tune") == "1723456789_tune"
    for bad, rule in [
        ("a/b", "not_normal"),
        (".", "not_normal"),
        ("..", "dotdot"),
        ("", "empty"),
        ("a\0", "nul"),
        (LONG, "name_too_long"),
    ]:
        with pytest.raises(PathRefused) as caught:
            check_name(bad, "publisher id")
        assert caught.value.rule == rule


# --- resolving: symlinks on this host ---------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with a file, a folder, a link inside, links out (absolute and relative), and a
    link to a sibling folder whose name starts like the root's."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "file").write_text("x")
    (tmp_path / "secret").write_text("s")
    (tmp_path / "root2").mkdir()
    (root / "inside").symlink_to(root / "sub")
    (root / "out_abs").symlink_to(tmp_path / "secret")
    (root / "out_rel").symlink_to("../secret")
    (root / "sub" / "up").symlink_to("..")
    (root / "sibling").symlink_to(tmp_path / "root2")
    (root / "loop").symlink_to(root / "loop")
    return root


def test_resolve_refuses_symlink_escapes(tree: Path) -> None:
    roots = Roots([tree])
    real = os.path.realpath(tree)
    assert roots.resolve(f"{tree}/file") == f"{real}/file"
    assert roots.resolve(f"{tree}/inside/new-file") == f"{real}/sub/new-file"
    assert roots.resolve(f"{tree}/sub/up/file") == f"{real}/file"
    assert roots.resolve(f"{tree}/not/yet/there") == f"{real}/not/yet/there"
    for escape in ("out_abs", "out_rel", "sibling/x", "out_rel/../secret"):
        with pytest.raises(PathRefused) as caught:
            roots.resolve(f"{tree}/{escape}")
        # `..` is refused before anything is resolved
        assert caught.value.rule == ("dotdot" if ".." in escape else "symlink_escape")
    # the lexical check alone does not see the link: that is what resolve is for
    assert roots.check(f"{tree}/out_abs") == f"{tree}/out_abs"


def test_resolve_follows_a_root_that_is_itself_a_link(tree: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(tree)
    assert Roots([alias]).resolve(f"{alias}/file") == f"{os.path.realpath(tree)}/file"


# --- properties: inputs that land inside and outside --------------------------------------

COMPONENTS = st.sampled_from(["data", "run", "srv", "archive", "x", "..", ".", "", "run2", "a b"])


@st.composite
def paths_near_roots(draw: st.DrawFn) -> str:
    """Paths that start with a root, a part of one, or nothing, then a few components: about
    half land inside a root."""
    start = draw(st.sampled_from(["/data/run", "/srv/archive", "/data", "/", "/srv/archive/x"]))
    rest = draw(st.lists(COMPONENTS, max_size=4))
    return start.rstrip("/") + "/" + "/".join(rest) if rest else start


def model_inside(path: str) -> bool:
    """What confinement means, said another way: after normalising, the path's components
    start with one root's components, and no `..` was ever written."""
    if ".." in path.split("/"):
        return False
    parts = [p for p in posixpath.normpath(path).split("/") if p]
    return parts[:2] in (["data", "run"], ["srv", "archive"])


def test_check_agrees_with_the_model_inside_and_outside() -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=400)
    @given(paths_near_roots())
    def check(path: str) -> None:
        try:
            got = ROOTS.check(path)
        except PathRefused as exc:
            outcomes[exc.rule] += 1
            assert not model_inside(path), path
        else:
            outcomes["accepted"] += 1
            assert model_inside(path), path
            assert ROOTS.contains(got) and ROOTS.check(got) == got  # normal form is stable

    check()
    # both outcomes reached, and refusals for more than one reason
    assert outcomes["accepted"] >= 40, outcomes
    assert outcomes["dotdot"] >= 40 and outcomes["outside_roots"] >= 40, outcomes


def test_resolve_never_returns_a_path_outside_the_real_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "a" / "up").symlink_to("../..")  # to tmp_path: out
    (root / "a" / "b" / "back").symlink_to("..")  # to a: in
    (root / "out").symlink_to(tmp_path / "outside")
    roots = Roots([root])
    real_root = os.path.realpath(root)
    outcomes: Counter[str] = Counter()

    @settings(max_examples=300)
    @given(st.lists(st.sampled_from(["a", "b", "up", "back", "out", "root", "new"]), max_size=5))
    def check(parts: list[str]) -> None:
        path = "/".join([str(root), *parts])
        try:
            got = roots.resolve(path)
        except PathRefused as exc:
            outcomes[exc.rule] += 1
            assert exc.rule == "symlink_escape"
            assert not os.path.realpath(path).startswith(real_root + "/")
            assert os.path.realpath(path) != real_root
        else:
            outcomes["accepted"] += 1
            assert got == os.path.realpath(path)
            assert got == real_root or got.startswith(real_root + "/")

    check()
    assert outcomes["accepted"] >= 30 and outcomes["symlink_escape"] >= 30, outcomes
