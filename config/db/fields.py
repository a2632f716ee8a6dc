"""Model fields whose values must compare exactly on every database."""

from django.db import models


class ExactCharField(models.CharField):
    """A CharField compared byte for byte, also on MySQL/MariaDB.

    Their default collation (utf8mb4_unicode_ci) ignores case, so two PG payment keys
    that differ only in case ("…qvBCa" and "…QVbca", both real Toss-shaped keys) would
    collide in a unique index and match each other in a lookup. Keys, identifiers and
    idempotency keys use this; text for people keeps the default.
    """

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "mysql":
            params["collation"] = "utf8mb4_bin"
        return params
