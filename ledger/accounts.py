"""The chart of accounts: which accounts exist, what kind each is, and how it is named.

An account's code says what it is and whose: `points:42` is the points the platform owes
member 42. Accounts are made on their first posting (ledger.services), so this module is
the one place that knows the codes. Signs, everywhere in the books: a debit is positive,
a credit negative, and every entry's postings sum to zero.

| code | kind | owner | it is |
| --- | --- | --- | --- |
| pg_receivable:<gateway> | asset | the gateway | what that PG has collected for us and owes us |
| seller_payable:<seller id> | liability | a seller | the seller's wallet: what we owe the seller |
| points:<member id> | liability | a member | points the member can spend |
| points_held:<member id> | liability | a member | points spent on orders not settled yet |
| revenue:commission | revenue | the platform | the commission kept from each sale |
| fees:<gateway> | expense | the gateway | what a PG keeps (reconciliation) |
| bank | asset | the platform | money in our bank account (payouts, settlements) |
"""

from dataclasses import dataclass


class Kind:
    ASSET = "ASSET"
    LIABILITY = "LIABILITY"
    REVENUE = "REVENUE"
    EXPENSE = "EXPENSE"

    choices = [(k, k.title()) for k in (ASSET, LIABILITY, REVENUE, EXPENSE)]


# An account's prefix decides its kind and what its suffix names.
_PREFIXES: dict[str, tuple[str, str]] = {
    "pg_receivable": (Kind.ASSET, "gateway"),
    "seller_payable": (Kind.LIABILITY, "seller"),
    "points": (Kind.LIABILITY, "member"),
    "points_held": (Kind.LIABILITY, "member"),
    "revenue": (Kind.REVENUE, "platform"),
    "fees": (Kind.EXPENSE, "gateway"),
    "bank": (Kind.ASSET, "platform"),
}
# Account families, as the trial balance groups them: the part of a code before ":".
FAMILIES = tuple(_PREFIXES)
COMMISSION = "revenue:commission"
BANK = "bank"


def pg_receivable(gateway: str) -> str:
    return f"pg_receivable:{gateway}"


def seller_payable(seller_id: int) -> str:
    return f"seller_payable:{seller_id}"


def member_points(member_id: int) -> str:
    return f"points:{member_id}"


def member_points_held(member_id: int) -> str:
    return f"points_held:{member_id}"


def pg_fees(gateway: str) -> str:
    return f"fees:{gateway}"


@dataclass(frozen=True)
class AccountSpec:
    """What a code says: the account's kind and owner, as the model stores them."""

    code: str
    kind: str
    owner: str  # platform, gateway, seller or member
    gateway: str = ""
    seller_id: int | None = None
    member_id: int | None = None

    @property
    def is_member_points(self) -> bool:
        """The account Member.point_balance caches (the points a member can spend)."""
        return self.code.startswith("points:")


def account_spec(code: str) -> AccountSpec:
    """Parse a code; ValueError for one the chart does not have (a bug, never input)."""
    prefix, _, suffix = code.partition(":")
    if prefix not in _PREFIXES:
        raise ValueError(f"no such account: {code!r}")
    kind, owner = _PREFIXES[prefix]
    if owner == "platform":
        if code not in (COMMISSION, BANK):
            raise ValueError(f"no such account: {code!r}")
        return AccountSpec(code, kind, owner)
    if not suffix:
        raise ValueError(f"account {code!r} names no {owner}")
    if owner == "gateway":
        return AccountSpec(code, kind, owner, gateway=suffix)
    if not suffix.isdigit():
        raise ValueError(f"account {code!r}: {owner} id must be a number")
    if owner == "seller":
        return AccountSpec(code, kind, owner, seller_id=int(suffix))
    return AccountSpec(code, kind, owner, member_id=int(suffix))
