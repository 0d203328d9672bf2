"""A Python component with both exports: an HTTP route and a tool
(world `spaceport:platform/tool-component`). Build from `components/`:

    componentize-py -d ../wit -w spaceport:platform/tool-component componentize app \
        -p sdk-python/examples/hello -p sdk-python -o target/python/hello.wasm

Manifest: route `/api/:user_id/hello` to it with `context = true`.
"""

from spaceport import ToolProvider, context, tool, variables  # noqa: F401 - ToolProvider is an export
from spaceport.http import HTTPError, IncomingHandler, Request, route  # noqa: F401 - IncomingHandler too


@route("GET", "/api/:user_id/hello")
def hello(request: Request, user_id: str) -> dict:
    name = request.query_params.get("name") or context.user().email
    if len(name) > 100:
        raise HTTPError(422, "invalid_name", "name: at most 100 characters")
    return {"message": f"{variables.get('greeting', 'Hello')}, {name}!", "user_id": user_id,
            "request_id": context.request_id()}


@tool
def greet(name: str, shout: bool = False) -> dict:
    """Greet someone by name.

    Args:
        name: Who to greet.
        shout: Greet in capitals.
    """
    text = f"{variables.get('greeting', 'Hello')}, {name}!"
    return {"message": text.upper() if shout else text}
