import factory

from ledger import accounts
from ledger.services import entry_post
from members.models import Member
from products.models import Product, Seller

DEFAULT_PASSWORD = "a-long-enough-passphrase"


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    email = factory.Sequence(lambda n: f"member{n}@example.com")
    name = factory.Faker("name", locale="ko_KR")
    password = DEFAULT_PASSWORD

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.create_user(*args, **kwargs)


class SellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Seller

    name = factory.Sequence(lambda n: f"Seller {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    seller = factory.SubFactory(SellerFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    price = 10000
    stock = 10


def give_points(member, points: int, reference: str = "seed") -> None:
    """Credit `member` with `points` as a Toss top-up would (a TOP_UP_PAID entry)."""
    entry_post(
        kind="TOP_UP_PAID",
        reference=f"{reference}-{member.pk}",
        postings=[
            (accounts.pg_receivable("toss"), points),
            (accounts.member_points(member.pk), -points),
        ],
    )
