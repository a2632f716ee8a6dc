from django.contrib import admin
from django.urls import include, path, re_path, register_converter

from config.api import errors
from config.api.converters import IdConverter
from config.api.health import HealthzApi, ReadyzApi
from config.metrics import metrics_view

register_converter(IdConverter, "id")

urlpatterns = [
    path("healthz", HealthzApi.as_view(), name="healthz"),
    path("readyz", ReadyzApi.as_view(), name="readyz"),
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("members.api.urls")),
    path("api/v1/", include("ledger.api.urls")),
    path("api/v1/", include("products.api.urls")),
    path("api/v1/", include("payments.api.urls")),
    re_path(r"^api/", errors.api_route_not_found),
    # The demo shop (server-rendered pages over the same services).
    path("shop/", include("payments.shop_urls")),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.not_found
handler500 = errors.server_error
