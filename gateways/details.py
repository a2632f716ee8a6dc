"""Helpers every gateway uses to read "what the buyer paid with" and to keep PG answers
free of secrets: bank codes, masking, lenient readers of display fields, and `redacted`.

Nothing here knows a PG's payment shape (each gateway.py builds its PaymentDetails) and
nothing here imports gateways.types (types imports this module for RefundAccount).
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

KST = timezone(timedelta(hours=9))


@dataclass(frozen=True)
class Bank:
    toss: str  # the two-digit code Toss uses (virtualAccount.bankCode, refundReceiveAccount.bank)
    kftc: str  # the three-digit 금융결제원 (KFTC) code NicePay uses (vbankCode, refundBankCode)
    name: str


# Korean banks by code. Source of the two-digit codes: Toss Payments' code table,
# https://docs.tosspayments.com/codes/org-codes ("은행 코드"), as transcribed by public
# Toss integrations (not in the contracts docs/pg.md draws on); the three-digit codes
# are the standard KFTC bank codes, which NicePay's vbankCode and refundBankCode use.
# Toss's codes are the KFTC ones without the leading zero except KB국민은행: Toss 06,
# KFTC 004 ("04" is accepted as an alias of 06 below).
BANKS = (
    Bank("02", "002", "KDB산업은행"),
    Bank("03", "003", "IBK기업은행"),
    Bank("06", "004", "KB국민은행"),
    Bank("07", "007", "Sh수협은행"),
    Bank("11", "011", "NH농협은행"),
    Bank("12", "012", "단위농협(지역농축협)"),
    Bank("20", "020", "우리은행"),
    Bank("23", "023", "SC제일은행"),
    Bank("27", "027", "씨티은행"),
    Bank("30", "030", "수협중앙회"),
    Bank("31", "031", "iM뱅크(대구)"),
    Bank("32", "032", "부산은행"),
    Bank("34", "034", "광주은행"),
    Bank("35", "035", "제주은행"),
    Bank("37", "037", "전북은행"),
    Bank("39", "039", "경남은행"),
    Bank("45", "045", "새마을금고"),
    Bank("48", "048", "신협"),
    Bank("50", "050", "저축은행중앙회"),
    Bank("54", "054", "홍콩상하이은행"),
    Bank("64", "064", "산림조합"),
    Bank("71", "071", "우체국예금보험"),
    Bank("81", "081", "하나은행"),
    Bank("88", "088", "신한은행"),
    Bank("89", "089", "케이뱅크"),
    Bank("90", "090", "카카오뱅크"),
    Bank("92", "092", "토스뱅크"),
)
_BY_CODE = {
    **{b.toss: b for b in BANKS},
    **{b.kftc: b for b in BANKS},
    "04": next(b for b in BANKS if b.toss == "06"),  # KB국민 by its KFTC number, two digits
}


# Toss's card company codes (card.issuerCode, card.acquirerCode). Source: the same Toss
# code table (https://docs.tosspayments.com/codes/org-codes, "카드사 코드"), as several
# public Toss integrations transcribe it identically. Toss's answer carries only the code.
TOSS_CARD_COMPANIES = {
    "3K": "기업BC",
    "46": "광주은행",
    "71": "롯데카드",
    "30": "KDB산업은행",
    "31": "BC카드",
    "51": "삼성카드",
    "38": "새마을금고",
    "41": "신한카드",
    "62": "신협",
    "36": "씨티카드",
    "33": "우리BC카드",
    "W1": "우리카드",
    "37": "우체국예금보험",
    "39": "저축은행중앙회",
    "35": "전북은행",
    "42": "제주은행",
    "15": "카카오뱅크",
    "3A": "케이뱅크",
    "24": "토스뱅크",
    "21": "하나카드",
    "61": "현대카드",
    "11": "KB국민카드",
    "91": "NH농협카드",
    "34": "Sh수협은행",
}


def toss_card_company(code) -> str | None:
    """The card company's name for a Toss issuer code; the code itself if unknown."""
    code = text(code)
    return TOSS_CARD_COMPANIES.get(code, code) if code else None


def bank(code) -> Bank | None:
    """The bank of a Toss (two-digit) or KFTC (three-digit) code, None if unknown."""
    if not isinstance(code, str):
        return None
    return _BY_CODE.get(code.strip())


def bank_name(code) -> str | None:
    found = bank(code)
    return found.name if found else None


# --- masking ---------------------------------------------------------------------------

_LONG_DIGITS = re.compile(r"\d{13,}")
MASK = "*"


def mask_card_number(value) -> str | None:
    """A card number as the PG masked it (`43301234****123*` stays as it is); a number
    that came unmasked (13 or more digits in a row, or 13 or more digits with no mask
    character at all) keeps only its last four digits."""
    if value is None or value == "":
        return None
    shown = str(value)
    digits = [i for i, c in enumerate(shown) if c.isdigit()]
    if MASK not in shown and len(digits) >= 13:
        hidden = set(digits[:-4])
        return "".join(MASK if i in hidden else c for i, c in enumerate(shown))
    return _LONG_DIGITS.sub(lambda m: MASK * (len(m.group()) - 4) + m.group()[-4:], shown)


def mask_account_number(value) -> str | None:
    """A bank account number with every digit but the last four hidden."""
    if value is None or value == "":
        return None
    shown = str(value)
    digits = [i for i, c in enumerate(shown) if c.isdigit()]
    hidden = set(digits[:-4]) if len(digits) > 4 else set(digits)
    return "".join(MASK if i in hidden else c for i, c in enumerate(shown))


# --- lenient readers of display fields (a bad one must not make a payment unreadable) ---


def text(value, limit: int = 200) -> str | None:
    """A non-empty string (numbers are accepted as their text), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        value = str(value).strip()
        return value[:limit] or None
    return None


def whole(value, default: int = 0) -> int:
    """A whole number from a number or a numeric string ("03"), else `default`."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


def moment(value) -> datetime | None:
    """An ISO 8601 time (a time without an offset is Korean), or a NicePay-style
    `YYYYMMDD[HHMM[SS]]`; None when it is neither."""
    if not isinstance(value, str) or not value.strip() or value.strip() == "0":
        return None
    value = value.strip()
    parsed = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for pattern in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
            try:
                parsed = datetime.strptime(value, pattern)  # Korean time: the offset is added below
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=KST)


def card_type(value) -> str | None:
    """credit, check, gift or unknown (types.CardType) from a PG's label."""
    label = text(value)
    if label is None:
        return None
    return CARD_TYPES.get(label.casefold(), "unknown")


CARD_TYPES = {
    "신용": "credit",
    "credit": "credit",
    "체크": "check",
    "check": "check",
    "debit": "check",
    "기프트": "gift",
    "gift": "gift",
    "미확인": "unknown",
    "unknown": "unknown",
}


# --- redaction ---------------------------------------------------------------------------

REDACTED = "[redacted]"
# Values nobody outside the gateway may keep: Toss's virtual-account webhook secret,
# NicePay's signature and window token, KakaoPay's one-time pg_token.
SECRET_KEYS = frozenset({"secret", "signature", "authToken", "signData", "pg_token"})
CARD_NUMBER_KEYS = frozenset({"number", "cardNum", "cardNo", "cardNumber", "card_number"})
# An account the buyer gave to be refunded to: its number is the buyer's own account.
REFUND_ACCOUNT_KEYS = frozenset({"refundReceiveAccount", "refundAccount"})


def redacted(raw):
    """A copy of a PG's answer that can be stored and shown: the same keys, with secrets
    replaced by "[redacted]", card numbers masked (mask_card_number) and the number of any
    refund account reduced to its last four digits. The issued virtual account's own
    number (where the buyer pays in) stays: the buyer needs it."""
    return _redact(raw)


def _redact(value):
    if isinstance(value, dict):
        return {k: _redact_entry(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def _redact_entry(key: str, value):
    if key in SECRET_KEYS:
        return REDACTED if value not in (None, "") else value
    if key in CARD_NUMBER_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
        return mask_card_number(value)
    if key in REFUND_ACCOUNT_KEYS:
        if isinstance(value, dict):
            return {
                k: mask_account_number(v) if k == "accountNumber" else _redact(v)
                for k, v in value.items()
            }
        if isinstance(value, str | int) and not isinstance(value, bool):
            return mask_account_number(value)  # NicePay's refundAccount is the number itself
    return _redact(value)
