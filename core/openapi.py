"""The OpenAPI schema documents every error an operation can answer.

Which errors an operation can answer follows from what the view is made of, so the
schema derives them rather than each view listing them: a request body or query
parameters can be refused (400, and 415 for a body in a media type the view does not
parse), an authenticator can refuse credentials (401), a permission or the CSRF check
of session authentication can refuse the caller (403), a path id can name nothing the caller may see (404), a throttle can run
out (429). Views add what only they can answer (402, 409, 503...) with
`error_response(...)` in `extend_schema`, and the codes they name are merged with the
generic ones. Every error body has the one shape of `core.api_errors`.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.fields import empty
from rest_framework.permissions import AllowAny, IsAuthenticated

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# The codes api_errors.exception_handler gives DRF's own exceptions: field errors are
# "invalid" (with per-field detail), a body that does not parse is "parse_error".
GENERIC_CODES = {
    400: ("invalid", "parse_error"),
    401: ("not_authenticated", "authentication_failed"),
    403: ("permission_denied",),
    404: ("not_found",),
    415: ("unsupported_media_type",),
    429: ("throttled",),
}

DESCRIPTIONS = {
    400: "The request is not valid; `code` names the problem, `fields` the fields at fault.",
    401: "No credentials, or credentials that are not valid.",
    402: "The workspace's plan does not cover this.",
    403: "Signed in, but not allowed to do this.",
    404: "Nothing here that the caller may see: another workspace's object answers the same.",
    409: "The request conflicts with the current state of what it names.",
    415: "The body is in a media type this operation does not read.",
    429: "Too many requests; `Retry-After` says when to try again.",
    503: "A service this operation needs is unavailable; try again later.",
}

# DRF sends these with its 401 and 429 answers.
HEADERS = {
    401: {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": "The scheme to authenticate with: `Token`.",
        }
    },
    429: {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 0},
            "description": "Seconds until the throttle lets the next request through.",
        }
    },
}


def error_schema(codes) -> dict:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": sorted(set(codes))},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": True,
                        "description": "Per-field detail of a validation error.",
                    },
                },
            }
        },
    }


def error_response(*codes: str, description: str = "") -> OpenApiResponse:
    """An error answer a view documents itself, with the codes it can carry."""
    return OpenApiResponse(response=error_schema(codes), description=description)


def _error_codes(response: dict) -> list[str] | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    code = schema.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
    return code.get("enum")


def _declares_request(schema: AutoSchema) -> bool:
    """Whether extend_schema(request=...) named a request body for this operation.

    extend_schema builds a subclass whose get_request_serializer closes over the
    `request` it was given (left `empty` when none was); asking the method itself would
    make drf-spectacular guess a serializer, and complain, for views without one.
    """
    method = type(schema).get_request_serializer
    cells = dict(zip(method.__code__.co_freevars, method.__closure__ or (), strict=True))
    cell = cells.get("request")
    return cell is not None and cell.cell_contents is not empty


class ErrorDocumentingAutoSchema(AutoSchema):
    def _get_request_body(self, direction="request"):
        # drf-spectacular documents bodies for POST, PUT and PATCH only; a DELETE that
        # declares its own with extend_schema(request=...) (deleting the account takes
        # the password) is documented too. extend_schema overrides this method then.
        if self.method != "DELETE" or not _declares_request(self):
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for status_code, codes in self._generic_errors(operation).items():
            key = str(status_code)
            documented = responses.get(key)
            if documented is None:
                responses[key] = {
                    "description": DESCRIPTIONS[status_code],
                    "content": {"application/json": {"schema": error_schema(codes)}},
                    **({"headers": HEADERS[status_code]} if status_code in HEADERS else {}),
                }
                continue
            known = _error_codes(documented) or []
            documented["content"]["application/json"]["schema"] = error_schema([*known, *codes])
        for key, documented in responses.items():
            if int(key) < 400:
                continue
            if _error_codes(documented) is None:
                raise ValueError(
                    f"{self.method} {self.path} documents {key} without the error body; "
                    "use core.openapi.error_response"
                )
            if not documented.get("description"):
                documented["description"] = DESCRIPTIONS.get(int(key), "")
        return operation

    def _generic_errors(self, operation: dict) -> dict[int, tuple[str, ...]]:
        errors: dict[int, tuple[str, ...]] = {}
        parameters = operation.get("parameters", [])
        if "requestBody" in operation:
            errors[400] = GENERIC_CODES[400]
            errors[415] = GENERIC_CODES[415]
        elif any(parameter["in"] == "query" for parameter in parameters):
            errors[400] = ("invalid",)
        authenticators = self.view.get_authenticators()
        challenges = any(
            authenticator.authenticate_header(self.view.request) for authenticator in authenticators
        )
        if challenges:
            errors[401] = GENERIC_CODES[401]
        # IsAuthenticated refuses only the anonymous, who get a 401 when an authenticator
        # can challenge them; any other permission can refuse a signed-in caller. Role
        # checks inside a view (accounts.access) are declared by the view itself.
        refusing = [
            permission
            for permission in self.view.get_permissions()
            if not isinstance(permission, AllowAny)
            and not (challenges and type(permission) is IsAuthenticated)
        ]
        csrf_checked = self.method in UNSAFE_METHODS and any(
            isinstance(authenticator, SessionAuthentication) for authenticator in authenticators
        )
        if refusing or csrf_checked:
            errors[403] = GENERIC_CODES[403]
        if any(parameter["in"] == "path" for parameter in parameters):
            errors[404] = GENERIC_CODES[404]
        if self.view.get_throttles():
            errors[429] = GENERIC_CODES[429]
        return errors
