class DomainError(Exception):
    """A refusal a service can raise with the API's code; the API layer renders it.

    Services stay free of DRF: config.api.errors.api_exception_handler turns this into
    {"code", "message", ...extra} with `http_status`.
    """

    def __init__(self, http_status: int, code: str, message: str, **extra):
        super().__init__(f"{code}: {message}")
        self.http_status = http_status
        self.code = code
        self.message = message
        self.extra = extra
