"""`{name}`: a tool the app's agents can call (world `tool-only`: no HTTP handler)."""

from spaceport import ToolProvider, tool  # noqa: F401 - ToolProvider is the export componentize-py looks for


@tool(name="{snake}")
def run(text: str) -> dict:
    """Count the words and characters of a text.

    Args:
        text: The text to count.
    """
    # The arguments were checked against the schema built from the type hints.
    return {"words": len(text.split()), "characters": len(text)}
