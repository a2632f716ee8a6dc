import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from members.models import Member
from products.models import Product, Seller

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=True)
def test_demo_data_loads_once_and_prints_working_credentials(capsys, api_client):
    call_command("load_demo_data")
    call_command("load_demo_data")

    out = capsys.readouterr().out
    assert Product.objects.count() == 12
    assert Seller.objects.count() == 3
    assert Member.objects.count() == 2
    assert Member.objects.get(email="operator@example.com").is_superuser
    buyer_line = next(line for line in out.splitlines() if "buyer:" in line)
    email, password = (part.strip() for part in buyer_line.split(":", 1)[1].split("/"))
    login = api_client.post(
        "/api/v1/members/login", {"email": email, "password": password}, format="json"
    )
    assert login.status_code == 200


def test_demo_data_refuses_to_run_without_debug():
    with pytest.raises(CommandError):
        call_command("load_demo_data")
    assert Product.objects.count() == 0
