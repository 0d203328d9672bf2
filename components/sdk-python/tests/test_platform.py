"""The SDK over componentize-py's generated bindings, with the host faked.

Needs the bindings on the path (`run-tests.sh` generates them); the binding
functions are replaced here by fakes that answer like the host does.
"""

import json
import unittest
from unittest import mock

try:
    from componentize_py_types import Err
    from wit_world.imports import sql as wit_sql
    from wit_world.imports import tool_types as wit_tt
    from wit_world.imports import tools as wit_tools
    from wit_world.imports import types as wit_http  # noqa: F401 - only in the HTTP worlds
except ImportError:  # pragma: no cover - run without generated bindings
    wit_sql = None

import spaceport
from spaceport import InvalidArguments, NotFound, ToolProvider, tool

needs_bindings = unittest.skipIf(wit_sql is None, "generated bindings (wit_world) are not on the path")


@tool
def echo_twice(text: str, times: int = 2) -> dict:
    """Repeat `text`."""
    if times < 0:
        raise InvalidArguments("field `times`: must not be negative")
    if text == "missing":
        raise NotFound("no such text")
    if text == "crash":
        raise RuntimeError("boom")
    return {"text": text * times}


@needs_bindings
class Provider(unittest.TestCase):
    def test_describe(self):
        tools = {t.name: t for t in ToolProvider().describe()}
        schema = json.loads(tools["echo_twice"].parameters_schema)
        self.assertEqual(schema["required"], ["text"])
        self.assertEqual(tools["echo_twice"].description, "Repeat `text`.")

    def test_invoke(self):
        out = ToolProvider().invoke("echo_twice", '{"text": "ab", "times": 3}')
        self.assertEqual(json.loads(out), {"text": "ababab"})

    def test_errors_become_the_wit_variant(self):
        cases = [
            ('{"text": "a", "times": -1}', wit_tt.ToolError_InvalidArguments),
            ('{"times": 1}', wit_tt.ToolError_InvalidArguments),
            ("not json", wit_tt.ToolError_InvalidArguments),
            ('{"text": "missing"}', wit_tt.ToolError_NotFound),
            ('{"text": "crash"}', wit_tt.ToolError_Failed),
        ]
        for args, case in cases:
            with self.subTest(args=args), self.assertRaises(Err) as caught, \
                    mock.patch("sys.stderr"):  # the traceback of "crash"
                ToolProvider().invoke("echo_twice", args)
            self.assertIsInstance(caught.exception.value, case)
        with self.assertRaises(Err) as caught:
            ToolProvider().invoke("nope", "{}")
        self.assertIsInstance(caught.exception.value, wit_tt.ToolError_UnknownTool)

    def test_duplicate_names_are_refused(self):
        with self.assertRaises(ValueError):
            tool(name="echo_twice")(lambda: None)


@needs_bindings
class Sql(unittest.TestCase):
    def test_values_both_ways(self):
        from spaceport import sql

        seen = {}

        def fake_query(db, statement, params):
            seen.update(db=db, statement=statement, params=params)
            return wit_sql.QueryResult(
                columns=["id", "title", "done", "blob", "nothing"],
                rows=[[wit_sql.Value_Integer(1), wit_sql.Value_Text("milk"), wit_sql.Value_Boolean(True),
                       wit_sql.Value_Blob(b"\x00"), wit_sql.Value_Null()]],
            )

        with mock.patch.object(wit_sql, "query", fake_query):
            rows = sql.query("tasks", "SELECT ... WHERE a = $1", None, True, 7, 1.5, "x", b"y")
        self.assertEqual(seen["params"], [
            wit_sql.Value_Null(), wit_sql.Value_Boolean(True), wit_sql.Value_Integer(7),
            wit_sql.Value_Real(1.5), wit_sql.Value_Text("x"), wit_sql.Value_Blob(b"y"),
        ])
        self.assertEqual(rows.first(), {"id": 1, "title": "milk", "done": True, "blob": b"\x00", "nothing": None})
        self.assertEqual(rows.scalar(), 1)
        self.assertEqual(len(rows), 1)

    def test_errors(self):
        from spaceport import sql

        def denied(db, statement, params):
            raise Err(wit_sql.Error_AccessDenied("not granted"))

        with mock.patch.object(wit_sql, "execute", denied), self.assertRaises(sql.SqlError) as caught:
            sql.execute("tasks", "DELETE FROM t")
        self.assertEqual(caught.exception.kind, "access-denied")

    def test_transaction_commits_or_rolls_back(self):
        from spaceport import sql

        calls = []

        class FakeTx:
            def execute(self, statement, params):
                calls.append("execute")
                return 1

            def commit(self):
                calls.append("commit")

            def rollback(self):
                calls.append("rollback")

            def __exit__(self, *exc):
                calls.append("drop")

        with mock.patch.object(wit_sql, "begin", lambda db: FakeTx()):
            with sql.transaction("tasks") as tx:
                tx.execute("UPDATE t SET a = $1", 1)
            with self.assertRaises(KeyError), sql.transaction("tasks") as tx:
                raise KeyError("oops")
        self.assertEqual(calls, ["execute", "commit", "drop", "rollback", "drop"])


@needs_bindings
class Tools(unittest.TestCase):
    def test_call_decodes_and_raises_typed_errors(self):
        from spaceport import tools

        def fake_call(name, arguments):
            if name == "add_task":
                return json.dumps({"task_id": 1, "echo": json.loads(arguments)})
            raise Err(wit_tt.ToolError_AccessDenied("not granted"))

        with mock.patch.object(wit_tools, "call", fake_call):
            self.assertEqual(tools.call("add_task", {"title": "x"}), {"task_id": 1, "echo": {"title": "x"}})
            with self.assertRaises(spaceport.AccessDenied):
                tools.call("other")


@needs_bindings
class Http(unittest.TestCase):
    def test_routes(self):
        from spaceport import http

        @http.route("GET", "/api/:user_id/hello")
        def hello(request, user_id):
            return {"hello": user_id, "q": request.query_params}

        @http.route(["POST"], "/api/:user_id/echo/...")
        def echo(request, user_id):
            return 201, {"body": request.json(), "rest": request.params["..."]}

        def request(method, path, body=b""):
            path, _, query = path.partition("?")
            return http.Request(method, path, query, {}, body)

        r = http._dispatch(request("GET", "/api/u%201/hello?x=1"))
        self.assertEqual((r.status, json.loads(r.body)), (200, {"hello": "u 1", "q": {"x": "1"}}))
        r = http._dispatch(request("POST", "/api/u/echo/a/b", b'{"k": 1}'))
        self.assertEqual((r.status, json.loads(r.body)), (201, {"body": {"k": 1}, "rest": "/a/b"}))
        with self.assertRaises(http.HTTPError) as caught:
            http._dispatch(request("DELETE", "/api/u/hello"))
        self.assertEqual(caught.exception.status, 405)
        self.assertEqual(caught.exception.headers, [("allow", "GET")])
        with self.assertRaises(http.HTTPError) as caught:
            http._dispatch(request("GET", "/nowhere"))
        self.assertEqual(caught.exception.status, 404)
        with self.assertRaises(http.HTTPError) as caught:
            http._dispatch(request("POST", "/api/u/echo", b"{nope"))
        self.assertEqual(caught.exception.code, "invalid_json")


if __name__ == "__main__":
    unittest.main()


@needs_bindings
class Vectors(unittest.TestCase):
    def test_values_go_over_as_the_wit_types_and_come_back_as_python(self):
        from spaceport import vectors
        from wit_world.imports import vectors as wit_vectors

        seen = {}

        def fake_search(collection, query):
            seen["collection"], seen["query"] = collection, query
            return [wit_vectors.Hit(id="a#0", score=0.5, payload='{"title": "A"}')]

        with mock.patch.object(wit_vectors, "search", fake_search):
            hits = vectors.search("docs", [1, 0], top_k=3, filter={"must": [{"key": "u", "match": "x"}]})
        self.assertEqual(hits, [vectors.Hit("a#0", 0.5, {"title": "A"})])
        self.assertEqual(seen["query"].vector, [1.0, 0.0])
        self.assertEqual(json.loads(seen["query"].filter), {"must": [{"key": "u", "match": "x"}]})

        def fake_upsert(collection, points):
            raise Err(wit_vectors.VectorError_DimensionMismatch("point `a` has 2 numbers"))

        with mock.patch.object(wit_vectors, "upsert", fake_upsert), \
                self.assertRaises(vectors.VectorError) as caught:
            vectors.upsert("docs", [("a", [1, 2], {})])
        self.assertEqual(caught.exception.kind, "dimension-mismatch")
