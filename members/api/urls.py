from django.urls import path

from members.api.views import MemberLoginApi, MemberMeApi, MemberSignupApi

urlpatterns = [
    path("members/signup", MemberSignupApi.as_view(), name="member-signup"),
    path("members/login", MemberLoginApi.as_view(), name="member-login"),
    path("members/me", MemberMeApi.as_view(), name="member-me"),
]
