"""`{name}`: answers `/api/{name}` (world `http-component`)."""

from spaceport import context
from spaceport.http import IncomingHandler, Request, route  # noqa: F401 - IncomingHandler is the export


@route("GET", "/api/{name}/...")
def hello(request: Request) -> dict:
    return {"hello": context.user_id(), "path": request.path}


@route("POST", "/api/{name}/...")
def echo(request: Request) -> dict:
    # A body that is not JSON is answered with 400 invalid_json.
    return {"echo": request.json(), "user": context.user_id()}
