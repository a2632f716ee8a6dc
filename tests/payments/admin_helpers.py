"""Helpers for the admin's tests (test_admin.py) and the operator actions' (test_operator.py)."""

from datetime import timedelta

from django.contrib.auth.models import Group
from django.utils import timezone

from payments.models import PaymentEvent
from payments.services.decisions import Action, Decision
from payments.services.settle import payment_record_outcome
from payments.states import transition
from products.models import Product
from tests.factories import MemberFactory
from tests.payments.helpers import restore_left_owed, unknown_payment

ADMIN = "/admin/payments/paymentevent/"


def staff(group: str):
    person = MemberFactory(is_staff=True)
    person.groups.add(Group.objects.get(name=group))
    return person


def needs_attention(member_client, sandbox, product, **fault) -> PaymentEvent:
    event = unknown_payment(member_client, sandbox, product, **fault)
    assert transition(
        event.pk, to="NEEDS_ATTENTION", reason="RECOVERY_BUDGET_SPENT", actor="worker"
    )
    event.refresh_from_db()
    return event


def never_authorized(member, product, *, status="NEEDS_ATTENTION", age_minutes=60):
    """A payment the PG never heard of, left in `status`, created `age_minutes` ago."""
    n = PaymentEvent.objects.count()
    event = PaymentEvent.objects.create(
        order_id=f"ord-admin-{n}-{product.pk}",
        buyer=member,
        gateway="toss",
        order_name=product.name,
        total_amount=product.price,
        pg_idempotency_key=f"key-{n}-{product.pk}",
    )
    event.lines.create(product=product, seller=product.seller, quantity=1, amount=product.price)
    Product.objects.filter(pk=product.pk).update(stock=product.stock - 1)
    for to in ("EXECUTING", "UNKNOWN"):
        assert transition(event.pk, to=to, reason="TEST", actor="worker", payment_key=f"pk-{n}")
    # The outcome function, so a FAILURE owes its stock restore (left PROCESSING here).
    with restore_left_owed():
        action = Action.BACK_OFF if status == "UNKNOWN" else Action(status)
        decision = Decision(action, "TEST")
        assert payment_record_outcome(
            event=event, decision=decision, actor="worker", froms={"UNKNOWN"}
        )
    PaymentEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(minutes=age_minutes)
    )
    return PaymentEvent.objects.get(pk=event.pk)


def operate(client, event, name):
    return client.post(f"{ADMIN}{event.pk}/operate/{name}/", follow=True)
