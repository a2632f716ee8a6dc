"""One error shape for the whole API: {"code", "message"} plus "fields" for bad input.

Every 4xx a client can cause, whether raised by DRF, Django or a service, leaves through
api_exception_handler (DRF views) or the JSON handler views (Django's 400/403/404/500).
"""

from typing import Any

import structlog
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError

log = structlog.get_logger(__name__)


# A DomainError's code -> the HTTP status it is answered with. Every code a service or
# view raises is here (tests/config/test_errors.py checks the code base against it).
STATUS_OF_CODE: dict[str, int] = {
    "INVALID_REQUEST": 400,
    "AMOUNT_MISMATCH": 400,
    "PAYMENT_REJECTED": 400,
    "UNSUPPORTED_GATEWAY": 400,
    "UNSUPPORTED_METHOD": 400,
    "REFUND_ACCOUNT_REQUIRED": 400,
    # Raised by the reconcile command, never by an API view today; listed so an operator
    # endpoint added later answers them as bad input, not as a 500.
    "BAD_SETTLEMENT_FILE": 400,
    "SETTLEMENT_FILE_REQUIRED": 400,
    "SETTLEMENT_FILE_MISSING": 404,
    "UNAUTHENTICATED": 401,
    "NOT_FOUND": 404,
    "OUT_OF_STOCK": 409,
    "INSUFFICIENT_POINTS": 409,
    "INVALID_STATE": 409,
    "REFUND_EXCEEDS_BALANCE": 409,
    "REFUND_REJECTED": 409,
    "CHECKOUT_IN_PROGRESS": 409,
    "PAYMENT_KEY_IN_USE": 409,
    "REFUND_IN_PROGRESS": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "HOLD_LIMIT": 409,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "TOO_MANY_OPEN_CHECKOUTS": 429,
    "RATE_LIMITED": 429,
    "GATEWAY_UNAVAILABLE": 503,
}


def http_status_of(error: DomainError) -> int:
    """The status a DomainError is answered with; an unlisted code is a bug, answered 400."""
    status_code = STATUS_OF_CODE.get(error.code)
    if status_code is None:
        log.error("domain_error_without_status", code=error.code)
        return status.HTTP_400_BAD_REQUEST
    return status_code


# DRF exception class -> our code. Order matters only for subclasses (none overlap here).
_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "INVALID_REQUEST",
    exceptions.ParseError: "INVALID_REQUEST",
    exceptions.NotAuthenticated: "UNAUTHENTICATED",
    exceptions.AuthenticationFailed: "UNAUTHENTICATED",
    exceptions.PermissionDenied: "PERMISSION_DENIED",
    exceptions.NotFound: "NOT_FOUND",
    exceptions.MethodNotAllowed: "METHOD_NOT_ALLOWED",
    exceptions.NotAcceptable: "NOT_ACCEPTABLE",
    exceptions.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
    exceptions.Throttled: "RATE_LIMITED",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def _message(detail: Any) -> str:
    if isinstance(detail, list | tuple) and detail:
        return _message(detail[0])
    if isinstance(detail, dict) and detail:
        return _message(next(iter(detail.values())))
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Any:
    # DRF's handler turns Http404/PermissionDenied into API exceptions, sets the auth
    # and Retry-After headers, and rolls back a surrounding atomic block.
    if isinstance(exc, DomainError):
        response = Response(
            error_body(exc.code, exc.message, **exc.extra), status=http_status_of(exc)
        )
        if "retryAfter" in exc.extra:  # seconds: when trying again can succeed
            response["Retry-After"] = str(exc.extra["retryAfter"])
        return response
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an API exception: a bug. Django's handler500 answers in JSON and logs it.
        return None

    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None)
    if code is None:
        code = str(getattr(exc, "default_code", "error")).upper()

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"nonFieldErrors": detail}
        response.data = error_body(code, "Invalid input: " + _message(detail), fields=fields)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body(code, f"Malformed request body: {_message(exc.detail)}")
    else:
        response.data = error_body(code, _message(exc.detail))
    return response


# Django-level handlers (config.urls handler400/403/404/500): for paths outside DRF views.


def _json_error(http_status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=http_status)


def bad_request(request, exception=None):
    return _json_error(status.HTTP_400_BAD_REQUEST, "INVALID_REQUEST", "Bad request.")


def permission_denied(request, exception=None):
    return _json_error(status.HTTP_403_FORBIDDEN, "PERMISSION_DENIED", "Permission denied.")


def not_found(request, exception=None):
    return _json_error(
        status.HTTP_404_NOT_FOUND, "NOT_FOUND", f"No resource at {request.method} {request.path}."
    )


def server_error(request):
    return _json_error(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "Something went wrong on our side; it has been logged.",
    )


@csrf_exempt
def api_route_not_found(request, *args, **kwargs):
    """Catch-all under /api/: JSON even when DEBUG would render Django's HTML 404 page."""
    return not_found(request)
