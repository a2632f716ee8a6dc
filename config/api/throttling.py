from django.conf import settings
from rest_framework.throttling import AnonRateThrottle


class AuthRateThrottle(AnonRateThrottle):
    """Login and signup attempts per client address, at settings.AUTH_THROTTLE_RATE.

    Read per request (DRF reads its rates once at import), so the rate can be changed
    by settings in tests and deployments alike.
    """

    scope = "auth"

    def get_rate(self):
        return settings.AUTH_THROTTLE_RATE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
