"""What a client may send to start or confirm a payment, checked once for every caller.

The API's views and the shop's pages validate with these same serializers, so a value the
API refuses the shop refuses too (the shop once answered a 500 for quantity 0). Form
values arrive as text: `form_integer` turns a decimal string into an int first, and
leaves anything else as it is for the serializer to refuse.
"""

import re

from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from config.api.fields import StrictIntegerField
from payments.models import Method, Purpose

ORDER_ID = RegexValidator(r"^[A-Za-z0-9_-]{6,64}$", "6 to 64 characters of A-Z a-z 0-9 - _")
MAX_ID = 10**18 - 1
MAX_AMOUNT = 10**12
_DECIMAL = re.compile(r"-?[0-9]{1,24}")


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def form_integer(value):
    """A form field's text as an int when it is one (the serializer checks its range)."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return int(value.strip())
    return value


class LineSerializer(serializers.Serializer):
    productId = StrictIntegerField(min_value=1, max_value=MAX_ID)
    quantity = StrictIntegerField(min_value=1)

    def validate_quantity(self, value):
        if value > settings.CHECKOUT_MAX_QUANTITY:
            raise ValidationError(f"at most {settings.CHECKOUT_MAX_QUANTITY}")
        return value


class CheckoutInput(serializers.Serializer):
    gateway = serializers.CharField(max_length=20)
    purpose = serializers.ChoiceField(choices=Purpose.choices, default=Purpose.GOODS)
    items = LineSerializer(many=True, required=False)
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, required=False)
    # Points to spend on goods; the PG is charged the rest (the service checks the total).
    pointsToUse = StrictIntegerField(min_value=0, max_value=MAX_AMOUNT, required=False, default=0)
    # How the buyer will pay in the PG's window: a card (or easy pay), or a virtual
    # account (가상계좌: the PG issues an account and the buyer transfers to it later).
    method = serializers.ChoiceField(
        choices=[Method.CARD, Method.VIRTUAL_ACCOUNT], required=False, default=Method.CARD
    )

    def validate(self, data):
        if data["purpose"] == Purpose.GOODS:
            items = data.get("items") or []
            if not 1 <= len(items) <= settings.CHECKOUT_MAX_LINES:
                raise ValidationError({"items": [f"1 to {settings.CHECKOUT_MAX_LINES} items"]})
            if "amount" in data:
                raise ValidationError({"amount": ["the server prices goods; send items only"]})
        else:
            if "amount" not in data:
                raise ValidationError({"amount": ["required for POINT_CHARGE"]})
            if data.get("items"):
                raise ValidationError({"items": ["not allowed for POINT_CHARGE"]})
            if data.get("pointsToUse"):
                raise ValidationError({"pointsToUse": ["not allowed for POINT_CHARGE"]})
        return data


class ConfirmInput(serializers.Serializer):
    orderId = serializers.CharField(max_length=64, validators=[ORDER_ID])
    paymentKey = serializers.CharField(max_length=200)
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT)


class RefundItemSerializer(serializers.Serializer):
    productId = StrictIntegerField(min_value=1, max_value=MAX_ID)
    quantity = StrictIntegerField(min_value=1, max_value=10**6)


class RefundAccountSerializer(serializers.Serializer):
    bank = serializers.CharField(max_length=3)
    accountNumber = serializers.CharField(max_length=20)
    holderName = serializers.CharField(max_length=60)


class CancelInput(serializers.Serializer):
    """A cancel: of `items` (those units, restocked), of `amount` (money only), or, with
    neither, of everything left (a paid order) or of the order itself (an unpaid one)."""

    reason = serializers.CharField(max_length=200, default="구매자 요청")
    items = RefundItemSerializer(many=True, required=False)
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, required=False)
    # Where a paid virtual account's money goes back (required then; the service checks
    # the bank code, the digits and the holder).
    refundReceiveAccount = RefundAccountSerializer(required=False)

    def validate(self, data):
        if "items" in data and "amount" in data:
            raise ValidationError({"amount": ["send items or amount, not both"]})
        if "items" in data and not 1 <= len(data["items"]) <= settings.CHECKOUT_MAX_LINES:
            raise ValidationError({"items": [f"1 to {settings.CHECKOUT_MAX_LINES} items"]})
        return data
