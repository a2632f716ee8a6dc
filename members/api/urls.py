from django.urls import path

from members.api.views import MemberLoginApi, MemberLogoutApi, MemberMeApi, MemberSignupApi

urlpatterns = [
    path("members/signup", MemberSignupApi.as_view(), name="member-signup"),
    path("members/login", MemberLoginApi.as_view(), name="member-login"),
    path("members/logout", MemberLogoutApi.as_view(), name="member-logout"),
    path("members/me", MemberMeApi.as_view(), name="member-me"),
]
