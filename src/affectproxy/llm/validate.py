"""Reading an answer's text as JSON and checking it against the request's schema (the ``jsonschema`` package).

Providers' own structured-output modes are not trusted: google-genai returns unvalidated ``json.loads`` output
(or None silently), Anthropic moves ``minimum``/``maximum`` into descriptions. Every answer is validated here.

Examples:
    >>> schema = {"type": "object", "properties": {"v": {"type": "number", "maximum": 1}}, "required": ["v"]}
    >>> parse_answer('```json\\n{"v": 0.5}\\n```', schema)
    {'v': 0.5}
    >>> parse_answer('{"v": 3}', schema)
    Traceback (most recent call last):
    ...
    affectproxy.llm.validate.InvalidAnswerError: the answer does not fit the schema: 3 is greater than the maximum ...
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from affectproxy.errors import AffectProxyError
from affectproxy.hashing import canonical_json


class InvalidAnswerError(AffectProxyError, ValueError):
    """A model's answer is not JSON, or does not satisfy the request's schema (after the repair retries)."""


class BlockedError(AffectProxyError):
    """The provider returned no answer: a safety block, or no candidates."""


_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.SchemaError`` if ``schema`` is not a valid JSON schema."""
    _validator(canonical_json(schema))


def parse_answer(text: str, schema: Mapping[str, Any] | None) -> Any:
    """The answer's JSON value, checked against ``schema``; without a schema, the text itself.

    A Markdown code fence around the JSON is tolerated.

    Raises:
        InvalidAnswerError: not JSON, or the first (most relevant) schema violation with its location.
    """
    if schema is None:
        return text
    match = _FENCE.match(text)
    body = match.group(1) if match else text
    try:
        value = json.loads(body)
    except ValueError as exc:
        shown = body.strip()
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise InvalidAnswerError(f"the answer is not valid JSON ({exc}): {shown!r}") from None
    import jsonschema

    errors = sorted(_validator(canonical_json(schema)).iter_errors(value), key=jsonschema.exceptions.relevance)
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "the top level"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidAnswerError(f"the answer does not fit the schema: {err.message} (at {where}){more}")
    return value


def repair_prompt(previous: str, error: str) -> str:
    """The text appended to a request to ask again after an invalid answer."""
    shown = previous if len(previous) <= 4000 else previous[:4000] + "..."
    return (
        "Your previous answer could not be used.\n"
        f"<previous_answer>\n{shown}\n</previous_answer>\n"
        f"Problem: {error}.\n"
        "Answer again: reply with only one JSON value that satisfies the response schema, nothing else."
    )


__all__ = ["BlockedError", "InvalidAnswerError", "check_schema", "parse_answer", "repair_prompt"]
