"""The `Idempotency-Key` header of a POST, as the key a service stores its answer under."""

from rest_framework.exceptions import ValidationError

from payments.services.idempotency import IdempotencyKey, request_fingerprint


def idempotency_key(request, body: dict) -> IdempotencyKey | None:
    """The request's key with its validated body's fingerprint; None without the header."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise ValidationError({"Idempotency-Key": ["1 to 255 characters"]})
    return IdempotencyKey(key=key, request_hash=request_fingerprint(dict(body)))
