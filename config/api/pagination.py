from rest_framework.pagination import CursorPagination
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

    def get_paginated_response(self, data):
        return Response(
            {"results": data, "next": self.get_next_link(), "previous": self.get_previous_link()}
        )
