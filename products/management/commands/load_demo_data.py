"""Demo data for `make run`: three sellers, a dozen products, a buyer and an operator.

Idempotent: running it again keeps what exists (stock included) and resets only the
demo passwords, so the printed credentials always work.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.env import env
from members.models import Member
from products.models import Product, Seller

DEMO_CATALOGUE = {
    "한옥 도자기 공방": [
        ("백자 머그컵", 18000, 120),
        ("청자 찻잔 세트", 54000, 40),
        ("분청사기 접시", 32000, 60),
        ("옹기 화분", 27000, 35),
    ],
    "제주 차 농원": [
        ("제주 녹차 50g", 12000, 300),
        ("유기농 호지차 40g", 15000, 200),
        ("한라봉 블렌딩 티백 20입", 9900, 500),
        ("말차 파우더 100g", 23000, 80),
    ],
    "서울 문구점": [
        ("한지 노트 A5", 8500, 250),
        ("만년필 잉크 먹색", 14000, 90),
        ("자개 볼펜", 39000, 25),
        ("캘리그라피 붓펜 세트", 21000, 70),
    ],
}

BUYER_EMAIL = "buyer@example.com"
OPERATOR_EMAIL = "operator@example.com"


class Command(BaseCommand):
    help = "Load demo sellers, products, a buyer and an operator (local use only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Load even when DEBUG is off (never in prod)."
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Demo data is for local runs (DEBUG on); pass --force to insist.")
        password = env("DEMO_PASSWORD", default="demo-pass-2026")

        with transaction.atomic(durable=True):
            created = 0
            for seller_name, products in DEMO_CATALOGUE.items():
                seller, _ = Seller.objects.get_or_create(name=seller_name)
                for name, price, stock in products:
                    _, was_created = Product.objects.get_or_create(
                        seller=seller, name=name, defaults={"price": price, "stock": stock}
                    )
                    created += was_created
            buyer = self._member(BUYER_EMAIL, "김구매", password, staff=False)
            operator = self._member(OPERATOR_EMAIL, "운영자", password, staff=True)

        total = Product.objects.count()
        self.stdout.write(
            f"Demo data: {total} products ({created} new), {Seller.objects.count()} sellers."
        )
        self.stdout.write(f"  buyer:    {buyer.email} / {password}")
        self.stdout.write(f"  operator: {operator.email} / {password}  (admin, superuser)")

    @staticmethod
    def _member(email: str, name: str, password: str, *, staff: bool) -> Member:
        member, _ = Member.objects.get_or_create(email=email, defaults={"name": name})
        member.is_staff = member.is_superuser = staff
        member.set_password(password)
        member.save()
        return member
