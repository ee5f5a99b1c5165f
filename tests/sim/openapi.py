"""Validate simulator replies against the vendor's OpenAPI document (shared/api).

The spec sits next to the repository checkout: ``<repo>/../shared/api/clearstreet-openapi.json``.
Each reply is checked against the response schema for its path, method and status, with
``#/components/schemas/...`` references resolved through a ``referencing.Registry`` holding
the whole document.

One reading of the spec needs stating: several error responses (404, 409, ...) give the bare
``ApiError`` object as their schema, while the spec's own examples for those same responses
(and the envelope described in ``info.description``) put that object under ``error`` next to
``metadata``. We read such a schema as "the envelope, whose ``error`` is an ApiError";
``test_openapi_conformance`` pins that the spec's own examples need this reading. Statuses
the spec does not list for a path (401, 405, 429, ...) are checked against that same error
envelope.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "api" / "clearstreet-openapi.json"
SPEC_URI = "urn:clearstreet:openapi"
API_ERROR_REF = "#/components/schemas/ApiError"

ERROR_ENVELOPE = {
    "allOf": [
        {"$ref": f"{SPEC_URI}#/components/schemas/BaseResponse"},
        {
            "type": "object",
            "required": ["error", "metadata"],
            "properties": {"error": {"$ref": f"{SPEC_URI}{API_ERROR_REF}"}},
        },
    ]
}


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


FORMATS = FormatChecker()
FORMATS.checks("date-time")(_is_date_time)
for _name in ("uuid", "date"):
    FORMATS.checkers[_name] = Draft202012Validator.FORMAT_CHECKER.checkers[_name]


class Spec:
    """The OpenAPI document and validators for its response schemas."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._templates: list[str] = sorted(
            document["paths"],
            key=lambda template: -len([s for s in template.split("/") if "{" not in s]),
        )

    def template_for(self, path: str) -> str | None:
        """The spec path template that a concrete request path falls under, if any."""
        for template in self._templates:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path):
                return template
        return None

    def responses(self, method: str, path: str) -> dict[str, Any]:
        """The documented responses of an operation ({} when the spec has no such operation)."""
        template = self.template_for(path)
        if template is None:
            return {}
        return self.document["paths"][template].get(method.lower(), {}).get("responses", {})  # type: ignore[no-any-return]

    def schema_for(self, method: str, path: str, status: int) -> dict[str, Any]:
        """The schema a reply must satisfy (see the module docstring for error statuses)."""
        response = self.responses(method, path).get(str(status))
        if response is None:
            return ERROR_ENVELOPE
        schema = response["content"]["application/json"]["schema"]
        if schema == {"$ref": API_ERROR_REF}:
            return ERROR_ENVELOPE
        template = self.template_for(path)
        assert template is not None
        pointer = _pointer(
            "paths",
            template,
            method.lower(),
            "responses",
            str(status),
            "content",
            "application/json",
            "schema",
        )
        return {"$ref": f"{SPEC_URI}#/{pointer}"}

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator(schema, registry=self.registry, format_checker=FORMATS)

    def errors(self, method: str, path: str, status: int, body: object) -> list[str]:
        """Every way ``body`` breaks the schema, one line each ([] when it conforms)."""
        validator = self.validator(self.schema_for(method, path, status))
        return [
            f"{method} {path} {status}: {'/'.join(map(str, e.absolute_path)) or '<body>'}: "
            f"{e.message}"
            for e in validator.iter_errors(body)
        ]


@cache
def load_spec() -> Spec | None:
    """The spec, or None when the shared/ checkout is missing."""
    if not SPEC_PATH.is_file():
        return None
    return Spec(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


MISSING_SPEC = (
    f"OpenAPI spec not found at {SPEC_PATH}. The tests expect the shared/ folder checked "
    "out next to this repository (e.g. /work/main and /work/shared)."
)
