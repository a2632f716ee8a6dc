class IdConverter:
    """A positive database id of at most 18 digits: larger numbers would overflow a
    BIGINT and turn a typo in a URL into a database error."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
