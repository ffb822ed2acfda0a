"""Reading JSON request bodies without ever answering 500.

The standard library's parser recurses once per nesting level, so a body of a few
thousand brackets raises RecursionError, which nothing upstream catches. It also
accepts `NaN`, `Infinity` and numbers like `1e400` that overflow to infinity. Both the
API (through JSONBodyParser) and the portal's JSON endpoints (through json_body) read
bodies here, and every such body is a 400 `parse_error`.
"""

import json
import math

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class MalformedJSON(ValueError):
    """The body is not a JSON document we accept; the message says why."""


def _refuse_constant(name: str):
    raise MalformedJSON(f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise MalformedJSON(f"The number {text[:40]} is too large.")
    return number


def json_loads(text: str | bytes):
    """Parse a JSON document; MalformedJSON for anything that is not plain, finite JSON."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except MalformedJSON:
        raise
    except RecursionError:
        raise MalformedJSON("The JSON is nested too deeply.") from None
    # ValueError covers JSONDecodeError and UnicodeDecodeError.
    except (ValueError, TypeError) as error:
        raise MalformedJSON(f"The body is not valid JSON: {error}") from None


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, with json_loads's refusals as 400 `parse_error`."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return json_loads(stream.read() if stream is not None else b"")
        except MalformedJSON as error:
            raise ParseError(str(error)) from None
