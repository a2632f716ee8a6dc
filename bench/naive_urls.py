from django.urls import path

from bench.naive import NaiveConfirmApi
from config.urls import urlpatterns as service_urls

urlpatterns = [path("bench/naive-confirm", NaiveConfirmApi.as_view()), *service_urls]
