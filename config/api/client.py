"""Who is calling: the client's address, as far as this deployment can know it.

X-Forwarded-For is a header anyone can send. Only the hops added by our own proxies are
believed: with NUM_PROXIES = N (nginx in docker-compose: 1), the client is the N-th
address from the end of the header, the one the outermost of our proxies saw. With 0
(the default: nothing in front), REMOTE_ADDR alone. Throttles, the login lockout and
the request log (config/api/middleware.py) all use this one answer (DRF's own
NUM_PROXIES is set to the same number).
"""

from django.conf import settings


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    if not proxies:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if not hops:
        return remote
    return hops[-min(proxies, len(hops))]
