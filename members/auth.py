"""Token authentication with the token's member cached in Redis.

Every API call authenticates, and DRF's TokenAuthentication runs a joined query for it
(about a tenth of the web's CPU in the confirm benchmark). Here the member is cached in
Redis under a hash of the token (the token itself never becomes a key), as JSON of the
fields a request needs: no password hash, no pickle. A read costs a third of the query.

When the token is deleted or the member is saved (deactivated, renamed, made staff), the
entry is replaced by a tombstone (members/signals.py), so a revoked token stops working
at once in every process. The tombstone, not a plain delete, closes a race: a request
that read the member from the database just before the revocation cannot write it back,
because entries are only ever added where nothing is (SET NX). While it lasts, that
token is checked against the database on every call. AUTH_TOKEN_CACHE_SECONDS bounds an
entry's life in case an invalidation was missed (Redis down at that moment, a raw SQL
change). Without Redis (the embedded default) nothing is cached; with Redis down, or an
entry that cannot be read, the database answers.

A token lives AUTH_TOKEN_TTL_SECONDS from its creation (the cached entry carries that
time too); an older one is deleted and refused, and the next login makes a new one.
Logout and a password change delete it (members/services.py, members/signals.py).
"""

import hashlib
import json
from datetime import datetime, timedelta
from functools import cache

import redis
import structlog
from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from members.models import Member

log = structlog.get_logger(__name__)

# What a request may read of request.user without a query; anything else (the password
# hash, permissions) is deferred and loaded from the database on first use.
CACHED_FIELDS = ("id", "email", "name", "is_active", "is_staff", "is_superuser")
TOMBSTONE = b"-"


def token_cache_key(key: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:authtoken:" + hashlib.sha256(key.encode()).hexdigest()


@cache
def _redis() -> redis.Redis:
    # Its own small client: Django's cache builds a new client object on every call,
    # which costs more than the lookup itself.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


def _enabled() -> bool:
    return bool(settings.AUTH_TOKEN_CACHE_SECONDS and settings.REDIS_URL)


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = self._member_of(key)
        if token.created <= timezone.now() - timedelta(seconds=settings.AUTH_TOKEN_TTL_SECONDS):
            Token.objects.filter(key=key).delete()  # the signal tombstones its cache entry
            raise exceptions.AuthenticationFailed("The token has expired; log in again.")
        return user, token

    def _member_of(self, key):
        if not _enabled():
            return super().authenticate_credentials(key)
        cache_key = token_cache_key(key)
        try:
            cached = _redis().get(cache_key)
        except redis.RedisError:  # authenticate from the database, as without a cache
            log.warning("auth_cache_unavailable")
            return super().authenticate_credentials(key)
        if cached == TOMBSTONE:  # revoked or changed lately: the database decides
            return super().authenticate_credentials(key)
        if cached is not None:
            try:
                values = json.loads(cached)
                row = [values[field] for field in CACHED_FIELDS]
                created = datetime.fromisoformat(values["token_created"])
            except (ValueError, TypeError, KeyError):
                log.warning("auth_cache_entry_unreadable")
                return super().authenticate_credentials(key)
            user = Member.from_db("default", CACHED_FIELDS, row)
            token = Token.from_db("default", ("key", "user_id", "created"), (key, user.pk, created))
            return user, token
        user, token = super().authenticate_credentials(key)  # raises for unknown / inactive
        values = {field: getattr(user, field) for field in CACHED_FIELDS}
        values["token_created"] = token.created.isoformat()
        try:
            # NX: never over a tombstone written since our read.
            _redis().set(
                cache_key, json.dumps(values), ex=settings.AUTH_TOKEN_CACHE_SECONDS, nx=True
            )
        except redis.RedisError:
            log.warning("auth_cache_unavailable")
        return user, token


def forget_token(key: str) -> None:
    """Replace a token's cached member with a tombstone (signals call it on every change
    that could revoke)."""
    if not _enabled():
        return
    try:
        _redis().set(token_cache_key(key), TOMBSTONE, ex=settings.AUTH_TOKEN_CACHE_SECONDS)
    except redis.RedisError:
        # The entry lives at most AUTH_TOKEN_CACHE_SECONDS more: say so, loudly.
        log.error("auth_cache_invalidation_failed", ttl_s=settings.AUTH_TOKEN_CACHE_SECONDS)
