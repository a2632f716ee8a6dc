class DomainError(Exception):
    """A refusal a service raises: a stable code, a message, and fields to show with them.

    Services know nothing of HTTP: the API's exception handler (config/api/errors.py) maps
    the code to a status with one table, and the shop pages read the same table.
    """

    def __init__(self, code: str, message: str, **extra):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.extra = extra
