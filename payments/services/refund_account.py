"""A refund that waits for the buyer's bank account, and giving it one.

    refund = refund_give_account(refund_id=r.pk, refund_account={...}, actor="buyer")

A virtual account's money goes back by bank transfer, to an account the buyer names (Toss
refundReceiveAccount). A buyer's or an operator's refund brings one (refund_request asks
for it). The system's refund of a false failure (a deposit that came after we had failed
the payment and put its stock back on sale) has none, since nobody asked the buyer: it is
made AWAITING_ACCOUNT and never sent so (the PG would refuse it). A system refund of a
virtual account the PG refused goes back there too (at once, after refund recovery's
look, or at an operator's re-check), its account forgotten (refund_settle), since that
may be what the PG refused.

The buyer gives the account through the same cancel as any refund (the API's
POST /payments/{orderId}/cancel with refundReceiveAccount, the shop's page), an operator
through the payment's Refund… form; all three end here:

- never sent: back to REQUESTED with the account, under the same key, and sent;
- sent before (and refused): first a look at the PG. Our cancel is there: SUCCEEDED. It
  is not: the same, under the key's next generation, because the PG keeps its answer
  under a key (Toss may keep a refusal too: docs/pg.md) and this cancel has a new body.
  A refusal is an answer, so nothing under the old key is still in flight, and a cancel
  under any generation is still found by the first key (key_rotation.py).

A lease of this request's own keeps two of these (a buyer's retry, an operator at the same
moment) from both sending it: the second is answered REFUND_IN_PROGRESS.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import DomainError
from payments.models import PaymentEvent, Refund
from payments.models import RefundStatus as R
from payments.refund_states import refund_transition
from payments.services.pg import PgRecord, pg_lookup, pg_refund_account
from payments.services.refund import refund_execute
from payments.services.refund_decisions import RefundOutcome
from payments.services.refund_recovery import refund_find_cancel
from payments.services.refund_settle import refund_record_outcome


def refund_waiting_for_account(event: PaymentEvent) -> Refund | None:
    """The payment's refund that waits for the buyer's bank account, if one does."""
    return event.refunds.filter(status=R.AWAITING_ACCOUNT).order_by("id").first()


def refund_give_account(*, refund_id: int, refund_account: dict | None, actor: str) -> Refund:
    """Give a waiting refund the buyer's bank account ({bank, accountNumber, holderName},
    checked as the PG needs it) and send it. A refund that no longer waits (given one
    meanwhile, by another request) is returned as it is."""
    if not refund_account:
        raise DomainError(
            "REFUND_ACCOUNT_REQUIRED",
            "입금이 늦게 확인되어 환불합니다. 환불받을 계좌를 알려 주세요 (refundReceiveAccount).",
            fields={"refundReceiveAccount": ["required for a virtual account's refund"]},
        )
    account = pg_refund_account(
        refund_account["bank"], refund_account["accountNumber"], refund_account["holderName"]
    )
    owner = f"account:{uuid.uuid4().hex}"  # this request's own: never another's release
    if not _lease(refund_id, owner):
        refund = Refund.objects.select_related("event").get(pk=refund_id)
        if refund.status == R.AWAITING_ACCOUNT:  # another request is giving it one now
            raise _in_progress(refund_id)
        return refund
    refund = Refund.objects.select_related("event").get(pk=refund_id)
    generation = refund.pg_key_generation
    if refund.history.filter(to_status=R.EXECUTING).exists():  # sent before
        found = _look_for_our_cancel(refund, owner)
        if found:
            refund_record_outcome(
                refund_id=refund_id,
                outcome=RefundOutcome(R.SUCCEEDED, "PG_CANCEL_FOUND", transaction_key=found),
                actor=actor,
                froms={R.AWAITING_ACCOUNT},
            )
            return Refund.objects.select_related("event").get(pk=refund_id)
        generation += 1
    with transaction.atomic(durable=True):
        # Only while the lease is still ours and the key as we read it: a request whose
        # lease ran out during a slow look must not send under a key another one used.
        held = Refund.objects.filter(
            pk=refund_id,
            status=R.AWAITING_ACCOUNT,
            lease_owner=owner,
            lease_until__gt=timezone.now(),
            pg_key_generation=refund.pg_key_generation,
        ).update(
            refund_bank_code=account.bank_code,
            refund_account_number=account.account_number,
            refund_account_holder=account.holder_name,
            pg_key_generation=generation,
        )
        if held:
            refund_transition(
                refund_id,
                to=R.REQUESTED,
                froms={R.AWAITING_ACCOUNT},
                reason="REFUND_ACCOUNT_GIVEN",
                actor=actor,
                pg_message=f"bank {account.bank_code}, account {_masked(account.account_number)}",
                lease_until=None,
                lease_owner="",
            )
    if not held:
        raise _in_progress(refund_id)
    return refund_execute(refund_id=refund_id, actor=actor)


def _in_progress(refund_id: int) -> DomainError:
    return DomainError(
        "REFUND_IN_PROGRESS",
        "환불 계좌를 처리하고 있습니다. 잠시 후 주문 내역에서 확인하세요.",
        refundId=refund_id,
    )


def _masked(number: str) -> str:
    """An account number as history shows it: the last four digits of a long one only
    (Korean account numbers have 10 to 14), nothing of a short one."""
    return number[-4:].rjust(len(number), "*") if len(number) >= 8 else "*" * len(number)


def _lease(refund_id: int, owner: str) -> bool:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    lease = now + timedelta(seconds=settings.RECOVERY_LEASE_SECONDS)
    return bool(
        Refund.objects.filter(free, pk=refund_id, status=R.AWAITING_ACCOUNT).update(
            lease_until=lease, lease_owner=owner
        )
    )


def _release(refund_id: int, owner: str) -> None:
    Refund.objects.filter(pk=refund_id, lease_owner=owner).update(lease_until=None, lease_owner="")


def _look_for_our_cancel(refund: Refund, owner: str) -> str | None:
    """Our cancel's key at the PG, None if it is not there; GATEWAY_UNAVAILABLE (and the
    account not kept: the buyer tries again) when the PG cannot be asked."""
    looked = pg_lookup(refund.event)
    if not isinstance(looked.record, PgRecord):
        _release(refund.pk, owner)
        raise DomainError(
            "GATEWAY_UNAVAILABLE",
            "결제사에 환불 여부를 확인하지 못했습니다. 잠시 후 다시 시도하세요.",
            pgCode=looked.code,
        )
    return refund_find_cancel(refund, looked.record)
