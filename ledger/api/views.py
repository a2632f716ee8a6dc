from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from config.api.pagination import CursorPage
from ledger.selectors import member_point_movements


class MemberPointsApi(APIView):
    """GET /members/me/points: the member's point movements, newest first (cursor pages)."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField(source="entry.kind")
        # A reference is an orderId, then after a "/" what of the order (a refund's id).
        orderId = serializers.SerializerMethodField()
        # The member's side: points gained are positive, points spent negative.
        points = serializers.SerializerMethodField()
        memo = serializers.CharField(source="entry.memo")
        at = serializers.DateTimeField(source="entry.created_at")

        def get_points(self, posting) -> int:
            return -posting.amount

        def get_orderId(self, posting) -> str:
            return posting.entry.reference.split("/")[0]

    def get(self, request):
        paginator = CursorPage()
        page = paginator.paginate_queryset(
            member_point_movements(member_id=request.user.pk), request, view=self
        )
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)
