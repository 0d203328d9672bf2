"""JSON Schema generation from type hints, and argument checking against it."""

import enum
import unittest
from typing import Annotated, Any, List, Literal, Optional

from spaceport.errors import InvalidArguments
from spaceport.schema import check_arguments, describe_function


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


def everything(
    title: str,
    count: int,
    ratio: float,
    done: bool,
    tags: list[str],
    status: Literal["all", "pending", "completed"] = "all",
    note: Optional[str] = None,
    limit: int | None = 20,
    colour: Colour = Colour.RED,
    scores: List[float] = [],  # noqa: B006 - never mutated; shows a list default
    extra: dict = {},  # noqa: B006
    anything: Any = None,
    labelled: Annotated[str, "Described inline."] = "x",
) -> dict:
    """Do everything
    at once.

    A second paragraph the model also reads.

    Args:
        title: The title,
            continued on a second line.
        count (int): How many.

    Returns:
        Not part of the description.
    """
    return {}


class Schema(unittest.TestCase):
    def setUp(self):
        self.description, self.schema, self.params = describe_function(everything)

    def test_object_shape(self):
        self.assertEqual(self.schema["type"], "object")
        self.assertIs(self.schema["additionalProperties"], False)
        self.assertEqual(self.schema["required"], ["title", "count", "ratio", "done", "tags"])

    def test_types(self):
        p = self.schema["properties"]
        self.assertEqual(p["title"]["type"], "string")
        self.assertEqual(p["count"]["type"], "integer")
        self.assertEqual(p["ratio"]["type"], "number")
        self.assertEqual(p["done"]["type"], "boolean")
        self.assertEqual(p["tags"], {"type": "array", "items": {"type": "string"}})
        self.assertEqual(p["status"], {"enum": ["all", "pending", "completed"], "type": "string", "default": "all"})
        self.assertEqual(p["note"], {"type": "string"})
        self.assertEqual(p["limit"], {"type": "integer", "default": 20})
        self.assertEqual(p["colour"], {"enum": ["red", "green"], "type": "string", "default": "red"})
        self.assertEqual(p["scores"], {"type": "array", "items": {"type": "number"}, "default": []})
        self.assertEqual(p["extra"]["type"], "object")
        self.assertEqual(p["anything"], {})
        self.assertEqual(p["labelled"]["description"], "Described inline.")

    def test_docstring(self):
        self.assertEqual(self.description, "Do everything at once.\n\nA second paragraph the model also reads.")
        p = self.schema["properties"]
        self.assertEqual(p["title"]["description"], "The title, continued on a second line.")
        self.assertEqual(p["count"]["description"], "How many.")
        self.assertNotIn("description", p["ratio"])

    def test_annotated_dicts_add_json_schema_keywords(self):
        def bounded(
            n: Annotated[int, "How many.", {"minimum": 1, "maximum": 50}],
            word: Annotated[Optional[str], {"minLength": 1}] = None,
        ) -> None:
            """Bounded."""

        _, schema, _ = describe_function(bounded)
        p = schema["properties"]
        self.assertEqual(p["n"], {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many."})
        self.assertEqual(p["word"], {"type": "string", "minLength": 1})

    def test_unsupported_type_fails_at_declaration(self):
        def bad(x: set) -> None:
            """Bad."""

        with self.assertRaisesRegex(TypeError, "parameter x"):
            describe_function(bad)


class Arguments(unittest.TestCase):
    def setUp(self):
        _, _, self.params = describe_function(everything)
        self.base = {"title": "t", "count": 1, "ratio": 0.5, "done": False, "tags": []}

    def check(self, **changes):
        return check_arguments({**self.base, **changes}, self.params)

    def rejects(self, fragment, args):
        with self.assertRaises(InvalidArguments) as caught:
            check_arguments(args, self.params)
        self.assertIn(fragment, caught.exception.message)

    def test_valid_and_defaults_left_to_the_function(self):
        self.assertEqual(self.check(), self.base)

    def test_conversions(self):
        kwargs = self.check(ratio=2, count=3.0, colour="green", note=None)
        self.assertEqual(kwargs["ratio"], 2.0)
        self.assertIsInstance(kwargs["ratio"], float)
        self.assertEqual(kwargs["count"], 3)
        self.assertIs(kwargs["colour"], Colour.GREEN)
        self.assertNotIn("note", kwargs)  # null for an optional field: the default applies

    def test_errors_name_the_field(self):
        self.rejects("missing required field `title`", {k: v for k, v in self.base.items() if k != "title"})
        self.rejects("field `count`: expected an integer, got the string '3'", {**self.base, "count": "3"})
        self.rejects("field `count`: expected an integer, got a boolean", {**self.base, "count": True})
        self.rejects("field `done`: expected a boolean, got the number 1", {**self.base, "done": 1})
        self.rejects("field `tags[1]`: expected a string", {**self.base, "tags": ["a", 2]})
        self.rejects("field `status`: must be one of 'all', 'pending', 'completed'", {**self.base, "status": "x"})
        self.rejects("unknown field `bogus`", {**self.base, "bogus": 1})
        self.rejects("field `title`: expected a string, got null", {**self.base, "title": None})
        self.rejects("must be a JSON object", [])


if __name__ == "__main__":
    unittest.main()
