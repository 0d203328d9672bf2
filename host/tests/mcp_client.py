"""An MCP client for host/tests/mcp.rs: the official Python SDK (`pip install
mcp`, 2.x) against Spaceport's /mcp, as a user's bearer token.

Usage: mcp_client.py URL TOKEN TITLE
Prints one JSON object per line (`event` says which step); after `ready` it
waits up to 60 s for `notifications/tools/list_changed` (the test changes the
app's tools meanwhile) and lists the tools again.
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client


def out(**fields):
    print(json.dumps(fields, default=str), flush=True)


def result(res):
    return {
        "is_error": bool(res.is_error),
        "text": "".join(getattr(c, "text", "") for c in res.content),
        "structured": res.structured_content,
    }


async def main(url, token, title):
    changed = asyncio.Event()

    async def on_message(message):
        if "tools/list_changed" in repr(message):
            changed.set()

    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx2.Timeout(30, read=120)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write, message_handler=on_message) as session:
                init = await session.initialize()
                out(event="init", protocol=init.protocol_version, server=init.server_info.name,
                    list_changed=bool(init.capabilities.tools and init.capabilities.tools.list_changed))
                tools = (await session.list_tools()).tools
                out(event="tools", names=sorted(t.name for t in tools),
                    add_task=next((t.input_schema for t in tools if t.name == "add_task"), None))
                out(event="add", **result(await session.call_tool("add_task", {"title": title})))
                out(event="list", **result(await session.call_tool("list_tasks", {})))
                out(event="invalid", **result(await session.call_tool("add_task", {"title": 5})))
                out(event="missing", **result(await session.call_tool("delete_task", {"task_id": 999999})))
                try:
                    await session.call_tool("no_such_tool", {})
                    out(event="unknown", error=None)
                except MCPError as e:
                    out(event="unknown", error=e.error.code, message=e.error.message)
                out(event="ready")
                try:
                    await asyncio.wait_for(changed.wait(), 60)
                    out(event="list_changed", ok=True)
                except asyncio.TimeoutError:
                    out(event="list_changed", ok=False)
                tools = (await session.list_tools()).tools
                out(event="tools_after", names=sorted(t.name for t in tools))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
