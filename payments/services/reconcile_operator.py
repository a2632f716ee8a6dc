"""What an operator does with an open discrepancy (the admin's actions): look at the PG
again, or close it with a note. A refund is the payment's own Refund… action (the refund
path, operator.py); these never move money themselves."""

from django.db import transaction
from django.utils import timezone

from payments.models import Discrepancy, DiscrepancyStatus
from payments.services.operator import ActionResult, payment_operator_recheck
from payments.services.reconcile_fix import NOTE

MAX_NOTE = 300


def discrepancy_recheck(*, discrepancy_id: int, operator: str) -> ActionResult:
    """Re-check the payment at the PG (the payment's own re-check: it records what the PG
    says through the settle and refund paths), and say where that leaves the difference."""
    row = Discrepancy.objects.select_related("event").get(pk=discrepancy_id)
    if row.status != DiscrepancyStatus.OPEN:
        return ActionResult(False, f"already {row.status}")
    if row.event is None:
        return ActionResult(False, "no payment of ours to re-check: resolve it with a note")
    result = payment_operator_recheck(event_id=row.event_id, operator=operator, note=NOTE)
    return ActionResult(result.ok, f"{row.kind}: {result.message}")


def discrepancy_resolve(*, discrepancy_id: int, operator: str, note: str) -> ActionResult:
    """Close an open discrepancy with what the operator did about it (required)."""
    note = " ".join(note.split())
    if not note:
        return ActionResult(False, "say how it was resolved")
    if len(note) > MAX_NOTE:
        return ActionResult(False, f"the note is longer than {MAX_NOTE} characters")
    with transaction.atomic():
        moved = Discrepancy.objects.filter(pk=discrepancy_id, status=DiscrepancyStatus.OPEN).update(
            status=DiscrepancyStatus.RESOLVED,
            resolved_by=operator[:150],
            resolved_at=timezone.now(),
            resolution=note,
        )
    if not moved:
        return ActionResult(False, "it is not open any more")
    return ActionResult(True, "resolved")
