"""Start-form fields from declared parameters or from the docstring convention."""

from __future__ import annotations

from socs_like.web.forms import Field, op_fields


def test_fields_from_the_docstring_signature() -> None:
    info = {"docstring": 'ls(path, args="", depth=2, rate=0.5, on=True, x=None): list files'}
    assert op_fields(info) == [
        Field("path", "json", required=True),
        Field("args", "str", required=False, default=""),
        Field("depth", "int", required=False, default=2),
        Field("rate", "float", required=False, default=0.5),
        Field("on", "bool", required=False, default=True),
        Field("x", "json", required=False, default=None),
    ]


def test_no_fields_without_a_signature() -> None:
    assert op_fields({"docstring": "main(): run until stopped"}) == []
    assert op_fields({"docstring": "Does things."}) == []
    assert op_fields({"docstring": "bad(a=, b): broken"}) == []
    assert op_fields({}) == []


def test_declared_parameters_win_over_the_docstring() -> None:
    info = {
        "docstring": "go(speed=1): ...",
        "params": [
            {"key": "speed", "type": "float", "default": 2.0, "required": False},
            {"key": "mode", "default": "a", "choices": ["a", "b"]},
            {"key": "target", "required": True},
            {"nonsense": 1},
        ],
    }
    assert op_fields(info) == [
        Field("speed", "float", required=False, default=2.0),
        Field("mode", "str", required=False, default="a", choices=["a", "b"]),
        Field("target", "json", required=True),
    ]
