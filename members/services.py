from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, logout
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from members.models import Member


class EmailTaken(Exception):
    pass


def member_create(*, email: str, password: str, name: str) -> Member:
    """Create a member; raises django ValidationError for a weak password, EmailTaken."""
    email = Member.objects.normalize_email(email)
    # Validate against the would-be member, so "a password like my email" is refused.
    validate_password(password, user=Member(email=email, name=name))
    if Member.objects.filter(email=email).exists():
        make_password(password)  # as long as a signup takes: the time says nothing either
        raise EmailTaken(email)
    try:
        with transaction.atomic(durable=True):
            return Member.objects.create_user(email=email, password=password, name=name)
    except IntegrityError as exc:  # lost a race with a concurrent signup of the same email
        raise EmailTaken(email) from exc


def member_login_token(*, request, email: str, password: str) -> Token | None:
    """Check the credentials; on success return the member's API token: the one it has,
    or a new one if it has none or it is older than AUTH_TOKEN_TTL_SECONDS.

    `request` is the HttpRequest: the login lockout (members/login_guard.py) marks it.
    """
    member = authenticate(request, email=Member.objects.normalize_email(email), password=password)
    if member is None:
        return None
    lifetime = timedelta(seconds=settings.AUTH_TOKEN_TTL_SECONDS)
    Token.objects.filter(user=member, created__lte=timezone.now() - lifetime).delete()
    token, _ = Token.objects.get_or_create(user=member)
    token.user = member  # the instance authenticate() marked with its backend, for login()
    return token


def member_logout(*, request, token: Token | None) -> None:
    """End the session of this request and delete the token it was made with, if any."""
    if token is not None:
        Token.objects.filter(key=token.key).delete()  # the signal tombstones its cache entry
    logout(request)
