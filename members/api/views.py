from django.contrib.auth import login
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.throttling import AuthRateThrottle
from config.errors import DomainError
from members.models import Member
from members.services import EmailTaken, member_create, member_login_token, member_logout


class MemberSignupApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        # Bounded: hashing a megabyte-long password is a cheap denial of service.
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        name = serializers.CharField(max_length=100)

    class OutputSerializer(serializers.Serializer):
        """The same for a new email and a taken one: a signup must not say which emails
        have accounts (no id either; GET /members/me gives it after login)."""

        email = serializers.EmailField()
        name = serializers.CharField()

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            member_create(**data.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        except EmailTaken:
            pass  # answered as a signup; the account's owner is not affected
        body = data.validated_data
        answer = {"email": Member.objects.normalize_email(body["email"]), "name": body["name"]}
        return Response(self.OutputSerializer(answer).data, status=status.HTTP_201_CREATED)


class MemberLoginApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = member_login_token(request=request._request, **data.validated_data)
        if token is None:
            raise DomainError("UNAUTHENTICATED", "Email or password is wrong.")
        login(request._request, token.user)  # the session, for the shop pages
        return Response({"token": token.key})


class MemberLogoutApi(APIView):
    """Revoke the token this call carries and end its session."""

    def post(self, request):
        token = request.auth if isinstance(request.auth, Token) else None
        member_logout(request=request._request, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberMeApi(APIView):
    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        name = serializers.CharField()
        pointBalance = serializers.IntegerField(source="point_balance")

    def get(self, request):
        return Response(self.OutputSerializer(request.user).data)
