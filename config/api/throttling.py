from django.conf import settings
from rest_framework.throttling import AnonRateThrottle

from config.api.client import client_address


class AuthRateThrottle(AnonRateThrottle):
    """Login and signup attempts per client address (config/api/client.py), at
    settings.AUTH_THROTTLE_RATE.

    Read per request (DRF reads its rates once at import), so the rate can be changed
    by settings in tests and deployments alike.
    """

    scope = "auth"

    def get_rate(self):
        return settings.AUTH_THROTTLE_RATE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}
