from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.pagination import CursorPage
from products.selectors import product_get, product_list


class ProductOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    price = serializers.IntegerField()
    stock = serializers.IntegerField()
    sellerId = serializers.IntegerField(source="seller_id")


class ProductListApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    class Pagination(CursorPage):
        ordering = "id"

    def get(self, request):
        paginator = self.Pagination()
        page = paginator.paginate_queryset(product_list(), request, view=self)
        return paginator.get_paginated_response(ProductOutputSerializer(page, many=True).data)


class ProductDetailApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request, product_id: int):
        product = product_get(product_id=product_id)
        if product is None:
            raise NotFound(f"No product {product_id}.")
        return Response(ProductOutputSerializer(product).data)
