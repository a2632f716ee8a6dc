from django.urls import path

from ledger.api.views import MemberPointsApi

urlpatterns = [
    path("members/me/points", MemberPointsApi.as_view(), name="member-points"),
]
