"""The fields of an operation's start form, read from what the agent declares (no I/O).

An op's ``info`` in get_api may carry ``params``: a list of ``{key, type, default, choices,
required}`` (the ``@param`` declarations). Agents that do not send it still document their
parameters on the docstring's first line, the house convention (``delay_task(delay=5,
succeed=True): wait ...``); the defaults there give the types. A parameter without a known
type is typed as JSON on the page (a number, ``true``, a quoted string, a list...).
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from typing import Any

SIGNATURE = re.compile(r"^\s*[A-Za-z_][\w-]*\((?P<args>.*?)\)\s*:")
TYPES = {bool: "bool", int: "int", float: "float", str: "str"}


@dataclass(frozen=True)
class Field:
    key: str
    type: str  # bool | int | float | str | json
    required: bool
    default: Any = None
    choices: list[Any] | None = None

    def encoded(self) -> dict[str, Any]:
        return asdict(self)


def _type_of(value: Any) -> str:
    return TYPES.get(type(value), "json")


def _declared(params: list[Any]) -> list[Field]:
    fields = []
    for spec in params:
        if not isinstance(spec, dict) or not isinstance(spec.get("key"), str):
            continue
        declared = spec.get("type")
        kind = declared if declared in TYPES.values() else None
        default = spec.get("default")
        required = bool(spec.get("required", False))
        choices = spec.get("choices")
        fields.append(
            Field(
                key=spec["key"],
                type=kind or ("json" if required or default is None else _type_of(default)),
                required=required,
                default=None if required else default,
                choices=list(choices) if isinstance(choices, list) else None,
            )
        )
    return fields


def _from_docstring(docstring: str) -> list[Field]:
    match = SIGNATURE.match(docstring.splitlines()[0] if docstring else "")
    if match is None or not match.group("args").strip():
        return []
    try:
        tree = ast.parse(f"def f({match.group('args')}): pass")
    except SyntaxError:
        return []
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    arguments = function.args.args + function.args.kwonlyargs
    defaults: list[ast.expr | None] = [None] * (
        len(function.args.args) - len(function.args.defaults)
    )
    defaults += function.args.defaults
    defaults += function.args.kw_defaults
    fields = []
    for argument, node in zip(arguments, defaults, strict=True):
        if node is None:
            fields.append(Field(argument.arg, "json", required=True))
            continue
        try:
            value = ast.literal_eval(node)
        except ValueError:
            fields.append(Field(argument.arg, "json", required=False))
            continue
        fields.append(Field(argument.arg, _type_of(value), required=False, default=value))
    return fields


def op_fields(info: dict[str, Any]) -> list[Field]:
    """The form fields of one operation, from its get_api ``info``."""
    params = info.get("params")
    if isinstance(params, list):
        return _declared(params)
    return _from_docstring(str(info.get("docstring") or ""))
