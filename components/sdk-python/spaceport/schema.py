"""JSON Schema from a function's signature, and argument checking against it.

Supported parameter types: `str`, `int`, `float`, `bool`, `dict`,
`list[T]`, `Literal[...]` (→ `enum`), `enum.Enum` subclasses,
`Optional[T]` / `T | None`, `Annotated[T, "description"]`, and `Any` (or no
annotation). A `dict` in `Annotated[...]` adds JSON Schema keywords to the
parameter, e.g. `Annotated[int, {"minimum": 1, "maximum": 50}]`: the host
checks them before the tool runs, and models see them. A parameter with a default is not required. An optional
parameter accepts JSON `null` (treated as "use the default"), because models
often send `null` for arguments they mean to leave out; the schema itself
stays a plain `{"type": T}` that every provider accepts.

The schema is built when the module is imported, which componentize-py does
at build time: a type the SDK cannot describe fails the build, not a call.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

from .errors import InvalidArguments

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}
_ARGS_HEADER = re.compile(r"^(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass
class Param:
    """One parameter of a tool function."""

    name: str
    annotation: Any
    required: bool
    nullable: bool  # Optional[...] or default None: JSON null means "absent"
    default: Any


def describe_function(fn: Callable) -> tuple[str, dict, list[Param]]:
    """The description, the arguments' JSON Schema and the parameters of `fn`."""
    summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    hints = typing.get_type_hints(fn, include_extras=True)
    properties: dict[str, dict] = {}
    required: list[str] = []
    params: list[Param] = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args/**kwargs cannot be described")
        annotation = hints.get(p.name, Any)
        inner, optional, note = _unwrap(annotation)
        try:
            prop = _type_schema(inner)
        except TypeError as e:
            raise TypeError(f"tool {fn.__name__}, parameter {p.name}: {e}") from None
        prop.update(_constraints(annotation))
        doc = note or arg_docs.get(p.name)
        if doc:
            prop["description"] = doc
        has_default = p.default is not inspect.Parameter.empty
        if has_default and p.default is not None and _is_json(p.default):
            prop["default"] = p.default.value if isinstance(p.default, enum.Enum) else p.default
        properties[p.name] = prop
        if not has_default:
            required.append(p.name)
        params.append(
            Param(
                name=p.name,
                annotation=inner,
                required=not has_default,
                nullable=optional or (has_default and p.default is None),
                default=p.default if has_default else None,
            )
        )
    schema: dict = {"type": "object", "properties": properties, "required": required,
                    "additionalProperties": False}
    return summary, schema, params


def check_arguments(args: Any, params: list[Param]) -> dict:
    """Validate decoded JSON `args` against `params`; returns the keyword
    arguments to call the function with. Raises `InvalidArguments` naming the field."""
    if not isinstance(args, dict):
        raise InvalidArguments(f"arguments must be a JSON object, got {_json_kind(args)}")
    known = {p.name for p in params}
    unknown = sorted(set(args) - known)
    if unknown:
        expected = ", ".join(p.name for p in params) or "none"
        raise InvalidArguments(f"unknown field `{unknown[0]}` (expected: {expected})")
    kwargs = {}
    for p in params:
        value = args.get(p.name)
        if p.name not in args or (value is None and p.nullable):
            if p.required:
                raise InvalidArguments(f"missing required field `{p.name}`")
            continue  # the function's default applies
        kwargs[p.name] = _convert(value, p.annotation, p.name)
    return kwargs


def _unwrap(tp: Any) -> tuple[Any, bool, str | None]:
    """Strip `Annotated` and `Optional`: (inner type, was optional, description)."""
    note = None
    if typing.get_origin(tp) is typing.Annotated:
        tp, *extras = typing.get_args(tp)
        note = next((e for e in extras if isinstance(e, str)), None)
    optional = False
    if _is_union(tp):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) != len(typing.get_args(tp)):
            optional = True
            tp = members[0] if len(members) == 1 else typing.Union[tuple(members)]
    return tp, optional, note


def _constraints(tp: Any) -> dict:
    """JSON Schema keywords given as `dict`s in `Annotated[...]` (outermost first)."""
    keywords: dict = {}
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp, *extras = typing.get_args(tp)
            for extra in extras:
                if isinstance(extra, dict):
                    keywords.update(extra)
        elif _is_union(tp):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return keywords
            tp = members[0]
        else:
            return keywords


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _type_schema(tp: Any) -> dict:
    if tp is Any or tp is inspect.Parameter.empty:
        return {}
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        schema: dict = {"enum": list(args)}
        kinds = {_SIMPLE.get(type(a)) for a in args}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _type_schema(typing.Literal[tuple(m.value for m in tp)])
    if tp is list or origin is list:
        schema = {"type": "array"}
        if args:
            schema["items"] = _type_schema(_unwrap(args[0])[0])
        return schema
    if origin is dict:
        return {"type": "object"}
    if _is_union(tp):
        return {"anyOf": [_type_schema(a) for a in args]}
    raise TypeError(f"unsupported type {tp!r} (use str, int, float, bool, list, dict, Literal)")


def _convert(value: Any, tp: Any, field: str) -> Any:
    """Check `value` (decoded JSON) against type `tp`, converting where JSON
    has no exact equivalent (int → float, str → Enum)."""
    tp, optional, _ = _unwrap(tp)
    if value is None and optional:
        return None
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    # bool is an int in Python but not in JSON Schema: test it first.
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is dict or origin is dict:
        if isinstance(value, dict):
            return value
    elif tp is list or origin is list:
        if isinstance(value, list):
            item = args[0] if args else Any
            return [_convert(v, item, f"{field}[{i}]") for i, v in enumerate(value)]
    elif origin is typing.Literal:
        # Compare types too: in Python `1 == True`, in JSON they differ.
        if any(value == a and type(value) is type(a) for a in args):
            return value
        choices = ", ".join(repr(a) for a in args)
        raise InvalidArguments(f"field `{field}`: must be one of {choices}, got {value!r}")
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in tp)
            raise InvalidArguments(f"field `{field}`: must be one of {choices}, got {value!r}") from None
    elif _is_union(tp):
        for member in args:
            try:
                return _convert(value, member, field)
            except InvalidArguments:
                pass
    expected = _SIMPLE.get(tp) or _SIMPLE.get(origin) or ("array" if origin is list else str(tp))
    raise InvalidArguments(f"field `{field}`: expected {_article(expected)}, got {_json_kind(value)}")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a docstring into its summary and a Google-style `Args:` section."""
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if _ARGS_HEADER.match(line.strip())), None)
    summary = _reflow(lines if start is None else lines[:start])
    if start is None:
        return summary, {}
    args: dict[str, str] = {}
    current, base_indent = None, 0
    for line in lines[start + 1:]:
        if not line.strip():
            current = None
            continue
        indent = len(line) - len(line.lstrip())
        m = _ARG_LINE.match(line.strip())
        if m and (current is None or indent <= base_indent):
            current, base_indent = m.group(1), indent
            args[current] = m.group(2).strip()
        elif current is not None and indent > base_indent:
            args[current] = f"{args[current]} {line.strip()}".strip()
        else:
            break  # another section (Returns:, Raises:, ...) or free text
    return summary, args


def _reflow(lines: list[str]) -> str:
    """Join the lines of each paragraph: source line breaks mean nothing to a model."""
    paragraphs = "\n".join(lines).strip().split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _is_json(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, enum.Enum)) or (
        isinstance(value, (list, dict)) and not value
    )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    return "an array" if isinstance(value, list) else "an object"


def _article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"
