import structlog
from django.conf import settings
from django.http import JsonResponse
from django_structlog.middlewares import RequestMiddleware

from config.api.client import client_address
from config.api.errors import error_body


def body_limit(path: str) -> int:
    """The most bytes a request to this path may send."""
    for prefix, limit in settings.REQUEST_BODY_LIMITS.items():
        if path.startswith(prefix):
            return min(limit, settings.MAX_REQUEST_BODY_BYTES)
    return settings.MAX_REQUEST_BODY_BYTES


class RequestBodyLimitMiddleware:
    """Refuse an oversized body from its Content-Length, before anything reads it.

    DRF's parsers read the stream directly, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
    The limit is MAX_REQUEST_BODY_BYTES, or a smaller one for a path in REQUEST_BODY_LIMITS
    (webhooks: a PG's notice is a few KB, and nobody has to log in to send one).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return JsonResponse(
                error_body("INVALID_REQUEST", "Content-Length is not a number."), status=400
            )
        limit = body_limit(request.path)
        if length > limit:
            return JsonResponse(
                error_body(
                    "PAYLOAD_TOO_LARGE",
                    f"Request body is {length} bytes; the limit is {limit}.",
                ),
                status=413,
            )
        return self.get_response(request)


class RequestLogMiddleware(RequestMiddleware):
    """django-structlog's request log, with the client's address from config/api/client.py:
    its own (ipware) believes an X-Forwarded-For anyone can send, so a log line could
    name any address the client liked."""

    @classmethod
    def bind_ip(cls, request) -> None:
        structlog.contextvars.bind_contextvars(ip=client_address(request))
