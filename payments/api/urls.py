from django.urls import path, re_path

from payments.api.views import (
    PaymentCancelApi,
    PaymentCheckoutApi,
    PaymentConfirmApi,
    PaymentDetailApi,
    PaymentListApi,
    WebhookApi,
)

urlpatterns = [
    path("payments", PaymentListApi.as_view(), name="payment-list"),
    path("payments/checkout", PaymentCheckoutApi.as_view(), name="payment-checkout"),
    path("payments/confirm", PaymentConfirmApi.as_view(), name="payment-confirm"),
    re_path(
        r"^payments/(?P<order_id>[A-Za-z0-9_-]{1,64})$",
        PaymentDetailApi.as_view(),
        name="payment-detail",
    ),
    re_path(
        r"^payments/(?P<order_id>[A-Za-z0-9_-]{1,64})/cancel$",
        PaymentCancelApi.as_view(),
        name="payment-cancel",
    ),
    re_path(r"^webhooks/(?P<gateway>[a-z0-9_]{1,20})$", WebhookApi.as_view(), name="webhook"),
]
