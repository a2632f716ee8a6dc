"""What django-axes is told about our logins, and the answer a locked-out client gets.

Every login path (the API's, the shop's and the admin's) goes through Django's
authenticate(), which axes watches: a failure is counted for the account (its email,
lower-cased) and for the client's address (config/api/client.py, never a header anyone
can send). LOGIN_FAILURE_LIMIT failures of either lock it for LOGIN_LOCKOUT_MINUTES
after the last one, and failures during a lock do not make it longer.

A lock on the account is what an attacker could use against its owner: a few wrong
passwords every quarter-hour would keep a real buyer out. So a device that has logged
into the account before (a signed cookie set at that login, KnownDeviceMiddleware) is
held only by its own failures: for it the account is counted together with its address
(OWASP's "device cookies"). A new device waits for the lock to end, like the attacker.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core import signing
from django.dispatch import receiver
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render

DEVICE_COOKIE = "known_device"
_SALT = "members.login_guard.device"
_DEVICE_AGE = timedelta(days=365)
_EVERYONE = ["ip_address", "username"]
_KNOWN_DEVICE = ["ip_address", ["username", "ip_address"]]


def login_username(request, credentials: dict | None) -> str:
    """The account a login is for, as axes counts it (the API sends email, forms username)."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username") or ""
    return str(value).strip().lower()[:254]


def lockout_parameters(request_or_attempt, credentials: dict | None) -> list:
    if isinstance(request_or_attempt, HttpRequest):
        account = login_username(request_or_attempt, credentials)
        if account and _device_account(request_or_attempt) == _fingerprint(account):
            return _KNOWN_DEVICE
    return _EVERYONE


def locked_out(request, original_response, credentials) -> object:
    """429 with Retry-After: JSON for the API, a Korean page for the shop and the admin."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "code": "RATE_LIMITED",
                "message": f"Too many failed logins; try again in {minutes} minutes.",
            },
            status=429,
        )
    else:
        response = render(request, "members/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


@receiver(user_logged_in, dispatch_uid="members.remember_device")
def remember_device(sender, request, user, **kwargs):
    if request is not None:
        request.known_device_for = _fingerprint(user.get_username().lower())


class KnownDeviceMiddleware:
    """Set the device cookie on the answer to a successful login."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        fingerprint = getattr(request, "known_device_for", None)
        if fingerprint:
            response.set_cookie(
                DEVICE_COOKIE,
                signing.dumps(fingerprint, salt=_SALT),
                max_age=int(_DEVICE_AGE.total_seconds()),
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response


def _fingerprint(account: str) -> str:
    # Not the email itself: the cookie says which account without saying it in clear.
    return hashlib.sha256(account.encode()).hexdigest()[:32]


def _device_account(request: HttpRequest) -> str | None:
    cookie = request.COOKIES.get(DEVICE_COOKIE)
    if not cookie:
        return None
    try:
        max_age = _DEVICE_AGE.total_seconds()
        return signing.loads(cookie, salt=_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
