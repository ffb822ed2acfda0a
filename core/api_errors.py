"""One JSON error shape for the whole API: {"error": {"code", "message"[, "fields"]}}."""

from contextlib import contextmanager

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class PaymentRequired(exceptions.APIException):
    """The workspace's plan does not cover the request: over quota, or a higher tier needed."""

    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_code = "payment_required"
    default_detail = "Your plan does not cover this. Upgrade to continue."


class Conflict(exceptions.APIException):
    """Well-formed, but at odds with the current state of what it names."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "This conflicts with the current state of the resource."


def _django_error_code(error: DjangoValidationError) -> str:
    codes = [e.code for e in error.error_list if e.code] if hasattr(error, "error_list") else []
    return codes[0] if codes else "invalid"


@contextmanager
def answering(*, conflict: tuple[str, ...] = (), not_found: tuple[str, ...] = ()):
    """Services refuse with Django's ValidationError (a 400); an API view names the
    codes that mean something else over HTTP: a reference to nothing the caller may see
    (404), or a request at odds with the current state (409)."""
    try:
        yield
    except DjangoValidationError as error:
        code = _django_error_code(error)
        message = " ".join(error.messages)
        if code in conflict:
            raise Conflict(message, code=code) from error
        if code in not_found:
            raise exceptions.NotFound(message, code=code) from error
        raise


def _message(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_message(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_message(value)}" for key, value in detail.items())
    return str(detail)


def _first_code(codes) -> str:
    # A non-field error keeps its own code; field errors are reported as "invalid",
    # with the per-field detail under "fields".
    if isinstance(codes, str):
        return codes
    if isinstance(codes, list) and codes and isinstance(codes[0], str):
        return codes[0]
    return "invalid"


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError; its first code names the problem.
        exc = exceptions.ValidationError(" ".join(exc.messages), code=_django_error_code(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    error: dict = {"code": _first_code(exc.get_codes()), "message": ""}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        error["message"] = _message(exc.detail)
        error["fields"] = exc.detail
    else:
        error["message"] = _message(exc.detail) if hasattr(exc, "detail") else str(exc)
    response.data = {"error": error}
    return response


def json_error(*, status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status_code)
