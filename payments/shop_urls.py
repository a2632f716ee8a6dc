"""The demo shop's pages (payments/shop.py), mounted at /shop/ by config/urls.py."""

from django.contrib.auth import views as auth_views
from django.urls import path

from payments import shop

urlpatterns = [
    path("", shop.shop_home, name="shop-home"),
    path("buy", shop.shop_buy, name="shop-buy"),
    path("payments/success", shop.shop_payment_success, name="shop-success"),
    path("payments/fail", shop.shop_payment_fail, name="shop-fail"),
    path("orders/<str:order_id>", shop.shop_order, name="shop-order"),
    path(
        "login",
        auth_views.LoginView.as_view(template_name="shop/login.html", next_page="/shop/"),
        name="shop-login",
    ),
    path("logout", auth_views.LogoutView.as_view(next_page="/shop/"), name="shop-logout"),
]
