from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path, register_converter

from config.api import errors
from config.api.converters import IdConverter
from config.api.health import HealthzApi, ReadyzApi
from config.metrics import metrics_view
from payments import shop

register_converter(IdConverter, "id")

urlpatterns = [
    path("healthz", HealthzApi.as_view(), name="healthz"),
    path("readyz", ReadyzApi.as_view(), name="readyz"),
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("members.api.urls")),
    path("api/v1/", include("products.api.urls")),
    path("api/v1/", include("payments.api.urls")),
    re_path(r"^api/", errors.api_route_not_found),
    # The demo shop (server-rendered pages over the same services).
    path("shop/", shop.shop_home, name="shop-home"),
    path("shop/buy", shop.shop_buy, name="shop-buy"),
    path("shop/payments/success", shop.shop_payment_success, name="shop-success"),
    path("shop/payments/fail", shop.shop_payment_fail, name="shop-fail"),
    path(
        "shop/login",
        auth_views.LoginView.as_view(template_name="shop/login.html", next_page="/shop/"),
        name="shop-login",
    ),
    path("shop/logout", auth_views.LogoutView.as_view(next_page="/shop/"), name="shop-logout"),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.not_found
handler500 = errors.server_error
