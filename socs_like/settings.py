"""An agent's settings, declared once: the command line, ``--help``, the site config's check of
an instance's ``arguments`` and ``get_api``'s ``settings`` all come from the declaration.

An agent package declares a frozen dataclass, ``Options`` in its ``options`` module::

    @settings("DaqWorker options")
    class Options:
        hosts: tuple[str, ...] = setting(nargs="+", metavar="HOST", help="worker hosts")
        monitor_interval: float = setting(default=10.0, help="seconds between sweeps")
        ssh: SshOptions = part(default_factory=SshOptions)  # a shared group, flags and all

and names it on the agent class (``Options = options.Options``). A field ``monitor_interval``
is the flag ``--monitor-interval``; its type says how a word is read: ``str``, ``int``,
``float``, ``Path``, ``Literal[...]`` (the choices), ``X | None``, ``tuple[X, ...]`` (the flag
repeats, or takes several words with ``nargs="+"``), and ``bool``, a switch unless ``parse``
reads a word: ``--x`` when the default is False, ``--x/--no-x`` when it is True, or only
``--no-x`` when ``flag`` says so. A setting without a default is required. ``__post_init__``
may refuse a combination with a ``ValueError`` naming the flag: it is reported as a bad
argument, before anything starts.

Where a value comes from, first wins: the command line (the site config's ``arguments`` come
first on it, so a flag typed after them wins), then the setting's ``env`` variable, then its
default. No I/O here and nothing heavy imported: ``socs-like config check`` and ``up`` read
every agent's declaration without loading the agent.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import Any, Literal, TypeVar, Union, dataclass_transform, get_args, get_origin
from typing import get_type_hints as _hints

T = TypeVar("T")

_SETTING = "socs_like.setting"
_PART = "socs_like.settings_part"
_TITLE = "__settings_title__"
REDACTED = "<redacted>"


class SettingsError(Exception):
    """A value the declaration refuses; one line naming the flag (or variable) and why."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Setting:
    """What a field declares beyond its name, type and default."""

    help: str
    env: str | None = None  # read when the flag is not given
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # reads one word (argparse's ``type``)
    nargs: Literal["+"] | None = None  # a sequence: several words after one flag
    flag: str | None = None  # when not ``--`` + the name with dashes
    secret: bool = False  # get_api shows it as REDACTED


def setting(
    *,
    default: Any = dataclasses.MISSING,
    help: str,
    env: str | None = None,
    metavar: str | None = None,
    parse: Callable[[str], Any] | None = None,
    nargs: Literal["+"] | None = None,
    flag: str | None = None,
    secret: bool = False,
) -> Any:
    """One setting (a dataclass field); no ``default``: required. Choices are a ``Literal``."""
    spec = Setting(
        help=help,
        env=env,
        metavar=metavar,
        parse=parse,
        nargs=nargs,
        flag=flag,
        secret=secret,
    )
    return dataclasses.field(default=default, metadata={_SETTING: spec})


def part(*, default_factory: Callable[[], T]) -> T:
    """A group of settings declared elsewhere (the SSH flags, say), ``default_factory`` its
    class: its flags are this agent's, under the part's own title; its value is one object."""
    made: T = dataclasses.field(default_factory=default_factory, metadata={_PART: True})
    return made


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(setting, part))
def settings(title: str) -> Callable[[type[T]], type[T]]:
    """Make a class a frozen, keyword-only dataclass of settings; `title` heads its flags in
    ``--help``."""

    def declare(cls: type[T]) -> type[T]:
        made = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
        setattr(made, _TITLE, title)
        for item in _items(made):
            if item.spec.env and item.many:
                raise TypeError(f"{cls.__name__}.{item.name}: a repeated setting reads no env")
        return made

    return declare


# --- reading a declaration ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Item:
    name: str
    spec: Setting
    field: dataclasses.Field[Any]
    word: Callable[[str], Any]  # reads one word
    type_name: str
    many: bool  # a tuple of words
    switch: bool  # a bool flag that takes no word
    choices: tuple[Any, ...] | None  # a Literal type's values

    @property
    def flag(self) -> str:
        return self.spec.flag or "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def required(self) -> bool:
        return (
            self.field.default is dataclasses.MISSING
            and self.field.default_factory is dataclasses.MISSING
        )

    @property
    def default(self) -> Any:
        return None if self.required else self.field.default


def _shape(hint: Any) -> tuple[Callable[[str], Any], str, bool, tuple[Any, ...] | None]:
    """(word reader, type name, a sequence?, choices) of a field's type."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        (hint,) = [a for a in get_args(hint) if a is not type(None)]
        origin = get_origin(hint)
    if origin is tuple:
        word, name, _, choices = _shape(get_args(hint)[0])
        return word, f"list[{name}]", True, choices
    if origin is Literal:
        values = get_args(hint)
        return type(values[0]), type(values[0]).__name__, False, values
    return hint, hint.__name__, False, None


def _items(cls: type) -> list[_Item]:
    hints = _hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_SETTING)
        if spec is None:
            continue
        word, name, many, choices = _shape(hints[f.name])
        switch = hints[f.name] is bool and spec.parse is None
        found.append(_Item(f.name, spec, f, spec.parse or word, name, many, switch, choices))
    return found


def _parts(cls: type) -> list[tuple[str, type]]:
    hints = _hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.metadata.get(_PART)]


def _groups(cls: type) -> Iterator[tuple[str, list[_Item]]]:
    """(title, settings) of `cls` and of its parts, in declaration order."""
    yield getattr(cls, _TITLE), _items(cls)
    for _name, sub in _parts(cls):
        yield from _groups(sub)


@settings("no options")
class NoOptions:
    """The settings of an agent that declares none."""


# --- the command line ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """The flags `cls` declares, one argument group per title. Nothing has an argparse default,
    so `from_namespace` knows which flags were given."""
    for title, items in _groups(cls):
        if not items:
            continue
        group = parser.add_argument_group(title)
        for item in items:
            _add(group, item)


def _add(group: argparse._ArgumentGroup, item: _Item) -> None:
    kwargs: dict[str, Any] = {"dest": item.dest, "help": item.spec.help}
    kwargs["default"] = argparse.SUPPRESS
    if item.required and not item.spec.env:
        kwargs["required"] = True
    if item.switch:
        if item.default and item.flag.startswith("--no-"):
            kwargs["action"] = "store_false"
        else:
            kwargs["action"] = argparse.BooleanOptionalAction if item.default else "store_true"
    else:
        kwargs.update(type=item.word, metavar=item.spec.metavar, choices=item.choices)
        if item.many:
            kwargs.update(nargs="+") if item.spec.nargs else kwargs.update(action="append")
    group.add_argument(item.flag, **kwargs)


def from_namespace(
    cls: type[T], args: argparse.Namespace, env: Mapping[str, str] = os.environ
) -> T:
    """The settings `args` (parsed with `add_arguments`' flags), `env` and the defaults give;
    `SettingsError` names a missing flag, a bad variable, or what ``__post_init__`` refused."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    for item in _items(cls):
        if hasattr(args, item.dest):
            value = getattr(args, item.dest)
            values[item.name] = tuple(value) if item.many else value
        elif item.spec.env and env.get(item.spec.env):
            values[item.name] = _from_env(item, env[item.spec.env])
        elif item.required:
            missing.append(item.flag)
    if missing:
        raise SettingsError(f"the following arguments are required: {', '.join(missing)}")
    for name, sub in _parts(cls):
        values[name] = from_namespace(sub, args, env)
    try:
        return cls(**values)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _from_env(item: _Item, text: str) -> Any:
    where = f"${item.spec.env} (for {item.flag})"
    try:
        value = item.word(text)
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        raise SettingsError(f"{where}: invalid {item.type_name} value: {text!r} ({exc})") from None
    if item.choices is not None and value not in item.choices:
        raise SettingsError(f"{where}: invalid choice: {text!r} (choose from {item.choices})")
    return value


class CheckingParser(argparse.ArgumentParser):
    """A parser whose errors raise `SettingsError` instead of exiting: for checking arguments
    before anything runs."""

    def error(self, message: str) -> Any:
        raise SettingsError(message)


def parse(cls: type[T], argv: Sequence[str], env: Mapping[str, str] = os.environ) -> T:
    """`argv` read against `cls` alone; `SettingsError` says what is wrong."""
    parser = CheckingParser(add_help=False)
    add_arguments(parser, cls)
    return from_namespace(cls, parser.parse_args(list(argv)), env)


# --- get_api ----------------------------------------------------------------------------------


def describe(options: object) -> list[dict[str, Any]]:
    """Every setting of `options` (a declared dataclass): name, flag, type, default, help, env
    variable and the value in effect, JSON-safe; a secret's default and value are redacted."""
    out: list[dict[str, Any]] = []
    for item in _items(type(options)):
        value, default = getattr(options, item.name), item.default
        if item.spec.secret:
            value, default = REDACTED, REDACTED
        out.append(
            {
                "name": item.name,
                "flag": item.flag,
                "type": item.type_name,
                "default": _json(default),
                "required": item.required,
                "help": item.spec.help,
                "env": item.spec.env,
                "secret": item.spec.secret,
                "value": _json(value),
            }
        )
    for name, _sub in _parts(type(options)):
        out += describe(getattr(options, name))
    return out


def _json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
