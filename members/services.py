from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
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
        raise EmailTaken(email)
    try:
        with transaction.atomic(durable=True):
            return Member.objects.create_user(email=email, password=password, name=name)
    except IntegrityError as exc:  # lost a race with a concurrent signup of the same email
        raise EmailTaken(email) from exc


def member_login_token(*, request, email: str, password: str) -> Token | None:
    """Check the credentials; on success return the member's API token (made once)."""
    member = authenticate(request, email=Member.objects.normalize_email(email), password=password)
    if member is None:
        return None
    token, _ = Token.objects.get_or_create(user=member)
    return token
