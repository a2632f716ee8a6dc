import re

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response


class CursorPage(CursorPagination):
    """{"results": [...], "next": url|null, "previous": url|null}; `?pageSize=` up to 100.

    Cursor pagination keeps pages stable while rows are inserted, and costs an index seek
    instead of an OFFSET scan on a large table. Views set `ordering`.
    """

    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100
    ordering = "-id"
    # Every ordering here is by id: a cursor's position is a database id, at most 18 digits.
    _POSITION = re.compile(r"[0-9]{1,18}")

    def decode_cursor(self, request) -> Cursor | None:
        # DRF checks the offset and the direction; the position goes into the query as
        # it came, and "p=abc" would be a database error (a 500) instead of a 404.
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not self._POSITION.fullmatch(position):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def get_paginated_response(self, data):
        return Response(
            {"results": data, "next": self.get_next_link(), "previous": self.get_previous_link()}
        )
