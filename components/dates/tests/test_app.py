"""The `resolve_date` tool through the SDK's ToolProvider (bindings faked;
`run-tests.sh` in sdk-python puts the generated bindings on the path)."""

import json
import unittest
from unittest import mock

try:
    from componentize_py_types import Err
    from wit_world.imports import tool_types
    from wit_world.imports import variables as wit_variables
except ImportError:  # pragma: no cover
    tool_types = None

NOW = "2026-11-24T09:30:00+00:00"


@unittest.skipIf(tool_types is None, "generated bindings (wit_world) are not on the path")
class ResolveDate(unittest.TestCase):
    def setUp(self):
        import app

        self.provider = app.ToolProvider()
        self.variables = {}
        patcher = mock.patch.object(wit_variables, "get", lambda name: self.variables.get(name))
        patcher.start()
        self.addCleanup(patcher.stop)

    def invoke(self, **args):
        return json.loads(self.provider.invoke("resolve_date", json.dumps(args)))

    def test_schema(self):
        (tool,) = self.provider.describe()
        schema = json.loads(tool.parameters_schema)
        self.assertEqual(tool.name, "resolve_date")
        self.assertEqual(schema["required"], ["text"])
        self.assertEqual(set(schema["properties"]), {"text", "timezone_offset_minutes", "now"})
        self.assertEqual(schema["properties"]["timezone_offset_minutes"]["type"], "integer")
        self.assertIs(schema["additionalProperties"], False)
        self.assertIn("next Friday at 5", tool.description)

    def test_answer_shape(self):
        self.assertEqual(self.invoke(text="next Friday at 5", now=NOW), {
            "input": "next Friday at 5", "date": "2026-11-27", "datetime": "2026-11-27T17:00:00+00:00",
            "weekday": "Friday", "days_from_today": 3,
        })
        self.assertIsNone(self.invoke(text="end of month", now=NOW)["datetime"])

    def test_time_zones(self):
        out = self.invoke(text="today at noon", now="2026-11-24T23:30:00Z", timezone_offset_minutes=120)
        self.assertEqual(out["datetime"], "2026-11-25T12:00:00+02:00")
        self.variables["timezone_offset_minutes"] = "-300"
        self.assertEqual(self.invoke(text="today", now="2026-11-25T02:00:00")["date"], "2026-11-25")
        self.assertEqual(self.invoke(text="now", now="2026-11-25T02:00:00")["datetime"], "2026-11-25T02:00:00-05:00")
        self.assertEqual(self.invoke(text="today", now="2026-11-25T02:00:00Z")["date"], "2026-11-25")
        self.variables["timezone_offset_minutes"] = "banana"
        with mock.patch("sys.stderr"):
            self.assertEqual(self.invoke(text="now", now="2026-11-25T02:00:00")["datetime"],
                             "2026-11-25T02:00:00+00:00")

    def test_clock(self):
        out = self.invoke(text="today")
        self.assertEqual(out["days_from_today"], 0)

    def test_errors(self):
        for args, fragment in [
            ({"text": "when pigs fly", "now": NOW}, "next Friday at 5"),
            ({"text": "today", "now": "soon"}, "field `now`"),
            ({"text": "today", "timezone_offset_minutes": 900}, "field `timezone_offset_minutes`"),
        ]:
            with self.subTest(args=args), self.assertRaises(Err) as caught:
                self.provider.invoke("resolve_date", json.dumps(args))
            self.assertIsInstance(caught.exception.value, tool_types.ToolError_InvalidArguments)
            self.assertIn(fragment, caught.exception.value.value)


if __name__ == "__main__":
    unittest.main()
