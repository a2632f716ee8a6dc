from django.conf import settings
from django.http import JsonResponse

from config.api.errors import error_body


class RequestBodyLimitMiddleware:
    """Refuse an oversized body from its Content-Length, before anything reads it.

    DRF's parsers read the stream directly, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
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
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return JsonResponse(
                error_body(
                    "PAYLOAD_TOO_LARGE",
                    f"Request body is {length} bytes; the limit is "
                    f"{settings.MAX_REQUEST_BODY_BYTES}.",
                ),
                status=413,
            )
        return self.get_response(request)
