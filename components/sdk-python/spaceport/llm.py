"""`spaceport:platform/llm`: chat completions and embeddings through the host
(which holds the API key). Needs `llm = true` in the manifest.

    answer = llm.complete([{"role": "system", "content": "Be brief."},
                           {"role": "user", "content": "Name a colour."}])
    print(answer.content)

Messages are OpenAI-style dicts (`role`, `content`, and for tool turns
`tool_calls` / `tool_call_id`), or a plain string for one user message.
Failures raise `LlmError`, whose `kind` is the WIT case (`unconfigured`,
`rate-limited`, `timeout`, ...).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from componentize_py_types import Err
from wit_world.imports import llm as _llm

from ._wit import case_name

#: The generated result types, re-exported: `Completion` has `content`,
#: `tool_calls` (each with `id`, `name`, `arguments` as JSON text),
#: `finish_reason`, `usage` and `model`.
Completion = _llm.Completion
ToolCall = _llm.ToolCall


class LlmError(Exception):
    """A completion failed. `kind` is the WIT error case, e.g. `rate-limited`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def complete(
    messages: str | Iterable[dict | Any],
    *,
    tools: Iterable[Any] = (),
    model: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> Completion:
    """Run a completion and wait for the whole answer.

    `tools` are what the model may call: `spaceport.tools.list()` entries or
    dicts with `name`, `description` and `parameters` (a JSON Schema dict).
    """
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    request = _llm.Request(
        messages=[_message(m) for m in messages],
        tools=[_tool_definition(t) for t in tools],
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
    )
    try:
        return _llm.complete(request)
    except Err as e:
        raise _error(e.value) from None


def embed(inputs: list[str], model: str | None = None) -> list[list[float]]:
    """One embedding vector per input text."""
    try:
        return _llm.embed(list(inputs), model)
    except Err as e:
        raise _error(e.value) from None


def _message(m: dict | Any) -> Any:
    if isinstance(m, _llm.Message):
        return m
    calls = [
        c if isinstance(c, _llm.ToolCall) else _llm.ToolCall(
            id=c["id"],
            # OpenAI's wire shape nests name/arguments under `function`.
            name=c.get("name") or c["function"]["name"],
            arguments=_as_json(c.get("arguments", c.get("function", {}).get("arguments", "{}"))),
        )
        for c in m.get("tool_calls") or ()
    ]
    return _llm.Message(
        role=_llm.Role[m["role"].upper()],
        content=m.get("content"),
        tool_calls=calls,
        tool_call_id=m.get("tool_call_id"),
    )


def _tool_definition(t: dict | Any) -> Any:
    if isinstance(t, _llm.ToolDefinition):
        return t
    if isinstance(t, dict):
        schema = t.get("parameters", t.get("parameters_schema", {"type": "object"}))
        return _llm.ToolDefinition(t["name"], t.get("description", ""), _as_json(schema))
    # A `tool_types.Tool` (from `spaceport.tools.list()`): same fields.
    return _llm.ToolDefinition(t.name, t.description, t.parameters_schema)


def _as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _error(value: Any) -> LlmError:
    return LlmError(case_name(value, "Error_"), str(value.value))
