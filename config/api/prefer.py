"""The RFC 7240 `Prefer` request header: what a client asks of how we answer."""

from rest_framework.request import Request


def preferences(request: Request) -> dict[str, str]:
    """`Prefer` as {name: value}, e.g. {"respond-async": "", "wait": "10"}."""
    found = {}
    for token in request.headers.get("Prefer", "").replace(";", ",").split(","):
        name, _, value = token.strip().partition("=")
        if name:
            found[name.lower()] = value.strip().strip('"')
    return found


def prefers_async(request: Request) -> bool:
    """`Prefer: respond-async`: answer 202 at once and finish the work in the background."""
    return "respond-async" in preferences(request)


def preferred_wait(request: Request, *, at_most: float) -> float:
    """`Prefer: wait=N`: how long the client will wait for an answer, up to `at_most`
    seconds; 0 when it did not ask or the value is not a number."""
    try:
        wait = float(preferences(request).get("wait", 0))
    except ValueError:
        return 0.0
    return max(0.0, min(wait, at_most))  # NaN ends as 0.0
