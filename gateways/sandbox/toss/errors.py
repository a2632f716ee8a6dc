"""Toss error codes the sandbox can answer with: HTTP status and messages.

The codes and their classes are in docs/pg.md, Toss: error codes.

`aborts` marks a confirm error that is a final decline: the payment becomes ABORTED
with this failure, as a real card refusal does. Other codes (transient, or about the
request itself) leave the payment as it was.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class TossError:
    http_status: int
    ko: str
    en: str
    aborts: bool = False


E = TossError
ERRORS: dict[str, TossError] = {
    # confirm
    "ALREADY_PROCESSED_PAYMENT": E(
        400, "이미 처리된 결제 입니다.", "This payment has already been processed."
    ),
    "PROVIDER_ERROR": E(
        400,
        "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요.",
        "A temporary error occurred. Please try again shortly.",
    ),
    "EXCEED_MAX_CARD_INSTALLMENT_PLAN": E(
        400,
        "설정 가능한 최대 할부 개월 수를 초과했습니다.",
        "Installment months exceed the maximum allowed.",
        True,
    ),
    "INVALID_REQUEST": E(400, "잘못된 요청입니다.", "The request is invalid."),
    "NOT_ALLOWED_POINT_USE": E(
        400,
        "포인트 사용이 불가한 카드로 카드 포인트 결제에 실패했습니다.",
        "This card cannot use card points.",
        True,
    ),
    "INVALID_API_KEY": E(
        400,
        "잘못된 시크릿키 연동 정보 입니다.",
        "The secret key is not valid for this integration.",
    ),
    "INVALID_REJECT_CARD": E(
        400,
        "카드 사용이 거절되었습니다. 카드사 문의가 필요합니다.",
        "The card was refused; contact the card issuer.",
        True,
    ),
    "BELOW_MINIMUM_AMOUNT": E(
        400,
        "신용카드는 결제금액이 100원 이상, 계좌는 200원 이상부터 결제가 가능합니다.",
        "The amount is below the minimum.",
        True,
    ),
    "INVALID_CARD_EXPIRATION": E(
        400, "카드 정보를 다시 확인해주세요. (유효기간)", "Check the card's expiry date.", True
    ),
    "INVALID_STOPPED_CARD": E(400, "정지된 카드 입니다.", "This card is suspended.", True),
    "EXCEED_MAX_DAILY_PAYMENT_COUNT": E(
        400, "하루 결제 가능 횟수를 초과했습니다.", "The daily payment count is exceeded.", True
    ),
    "NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT": E(
        400,
        "할부가 지원되지 않는 카드 또는 가맹점 입니다.",
        "Installments are not supported for this card or merchant.",
        True,
    ),
    "INVALID_CARD_INSTALLMENT_PLAN": E(
        400, "할부 개월 정보가 잘못되었습니다.", "The installment plan is invalid.", True
    ),
    "NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN": E(
        400, "할부가 지원되지 않는 카드입니다.", "This card does not support installments.", True
    ),
    "EXCEED_MAX_PAYMENT_AMOUNT": E(
        400, "하루 결제 가능 금액을 초과했습니다.", "The daily payment amount is exceeded.", True
    ),
    "NOT_FOUND_TERMINAL_ID": E(
        400,
        "단말기 번호(Terminal Id)가 없습니다. 토스페이먼츠로 문의 바랍니다.",
        "No terminal id is configured.",
    ),
    "INVALID_AUTHORIZE_AUTH": E(
        400, "유효하지 않은 인증 방식입니다.", "The authentication method is invalid.", True
    ),
    "INVALID_CARD_LOST_OR_STOLEN": E(
        400, "분실 혹은 도난 카드입니다.", "This card was reported lost or stolen.", True
    ),
    "RESTRICTED_TRANSFER_ACCOUNT": E(
        400,
        "계좌는 등록 후 12시간 뒤부터 결제할 수 있습니다.",
        "The account can pay 12 hours after registration.",
        True,
    ),
    "INVALID_CARD_NUMBER": E(400, "카드번호를 다시 확인해주세요.", "Check the card number.", True),
    "INVALID_UNREGISTERED_SUBMALL": E(
        400, "등록되지 않은 서브몰입니다.", "The sub-mall is not registered."
    ),
    "NOT_REGISTERED_BUSINESS": E(
        400, "등록되지 않은 사업자 번호입니다.", "The business number is not registered."
    ),
    "EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT": E(
        400, "1일 출금 한도를 초과했습니다.", "The daily withdrawal limit is exceeded.", True
    ),
    "EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT": E(
        400,
        "1회 출금 한도를 초과했습니다.",
        "The per-transaction withdrawal limit is exceeded.",
        True,
    ),
    "CARD_PROCESSING_ERROR": E(
        400, "카드사에서 오류가 발생했습니다.", "The card company reported an error."
    ),
    "EXCEED_MAX_AMOUNT": E(
        400, "거래금액 한도를 초과했습니다.", "The transaction amount limit is exceeded.", True
    ),
    "INVALID_ACCOUNT_INFO_RE_REGISTER": E(
        400,
        "유효하지 않은 계좌입니다. 계좌 재등록 후 시도해주세요.",
        "The account is invalid; register it again.",
        True,
    ),
    "NOT_AVAILABLE_PAYMENT": E(
        400, "결제가 불가능한 시간대입니다.", "Payments are not available at this time."
    ),
    "UNAPPROVED_ORDER_ID": E(
        400, "아직 승인되지 않은 주문번호입니다.", "The order id is not approved yet."
    ),
    "EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT": E(
        400,
        "당월 결제 가능금액인 1,000,000원을 초과 하셨습니다.",
        "The monthly limit of 1,000,000 KRW is exceeded.",
        True,
    ),
    "UNAUTHORIZED_KEY": E(
        401,
        "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
        "The secret key or client key is not authorized.",
    ),
    "REJECT_ACCOUNT_PAYMENT": E(
        403, "잔액부족으로 결제에 실패했습니다.", "The payment failed: insufficient balance.", True
    ),
    "REJECT_CARD_PAYMENT": E(
        403,
        "한도초과 혹은 잔액부족으로 결제에 실패했습니다.",
        "The payment failed: limit exceeded or insufficient balance.",
        True,
    ),
    "REJECT_CARD_COMPANY": E(
        403, "결제 승인이 거절되었습니다.", "The card company declined the payment.", True
    ),
    "FORBIDDEN_REQUEST": E(403, "허용되지 않은 요청입니다.", "The request is not allowed."),
    "REJECT_TOSSPAY_INVALID_ACCOUNT": E(
        403,
        "선택하신 출금 계좌가 출금이체 등록이 되어 있지 않아요.",
        "The withdrawal account is not registered.",
        True,
    ),
    "EXCEED_MAX_AUTH_COUNT": E(
        403, "최대 인증 횟수를 초과했습니다.", "Too many authentication attempts.", True
    ),
    "EXCEED_MAX_ONE_DAY_AMOUNT": E(
        403, "일일 한도를 초과했습니다.", "The daily limit is exceeded.", True
    ),
    "NOT_AVAILABLE_BANK": E(
        403, "은행 서비스 시간이 아닙니다.", "The bank is outside its service hours."
    ),
    "INVALID_PASSWORD": E(
        403, "결제 비밀번호가 일치하지 않습니다.", "The payment password does not match.", True
    ),
    "INCORRECT_BASIC_AUTH_FORMAT": E(
        403,
        "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요.",
        "Malformed Basic credentials: encode the key followed by ':'.",
    ),
    "FDS_ERROR": E(
        403,
        "[토스페이먼츠] 위험거래가 감지되어 결제가 제한됩니다.",
        "Fraud detection blocked the payment.",
        True,
    ),
    "NOT_FOUND_PAYMENT": E(404, "존재하지 않는 결제 정보 입니다.", "The payment does not exist."),
    "NOT_FOUND_PAYMENT_SESSION": E(
        404,
        "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.",
        "The payment session expired; no payment data remains.",
    ),
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": E(
        500,
        "결제가 완료되지 않았어요. 다시 시도해주세요.",
        "The payment was not completed. Please try again.",
    ),
    "FAILED_INTERNAL_SYSTEM_PROCESSING": E(
        500,
        "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요.",
        "An internal system process failed. Please try again later.",
    ),
    "UNKNOWN_PAYMENT_ERROR": E(
        500,
        "결제에 실패했어요. 같은 문제가 반복된다면 은행이나 카드사로 문의해주세요.",
        "The payment failed for an unknown reason.",
    ),
    "IDEMPOTENT_REQUEST_PROCESSING": E(
        409,
        "이전 멱등 요청이 처리중입니다.",
        "The earlier request with this Idempotency-Key is still being processed.",
    ),
    "INVALID_IDEMPOTENCY_KEY": E(
        400,
        "멱등키는 300자 이하로 입력해주세요.",
        "The Idempotency-Key must be at most 300 characters.",
    ),
    "DUPLICATED_ORDER_ID": E(
        400,
        "이미 승인 및 취소가 진행된 중복된 주문번호 입니다.",
        "This order id was already used for an approved or cancelled payment.",
    ),
    "ALREADY_COMPLETED_PAYMENT": E(
        400, "이미 완료된 결제 입니다.", "This payment is already completed."
    ),
    "COMMON_ERROR": E(
        500,
        "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요.",
        "A temporary error occurred. Please try again shortly.",
    ),
    "UNKNOWN_ERROR": E(500, "알 수 없는 에러가 발생했습니다.", "An unknown error occurred."),
    "INVALID_TEST_CODE": E(
        400, "유효하지 않은 테스트 코드입니다.", "The TossPayments-Test-Code is not valid."
    ),
    "INVALID_ORDER_ID": E(
        400,
        "주문번호는 영문 대소문자, 숫자, 특수문자(-, _)만 허용하며 6자 이상 64자 이하여야 합니다.",
        "orderId must be 6 to 64 characters of letters, digits, - and _.",
    ),
    # lookup
    "FORBIDDEN_CONSECUTIVE_REQUEST": E(
        403,
        "반복적인 요청은 허용되지 않습니다. 잠시 후 다시 시도해주세요.",
        "Repeated requests are not allowed. Please try again later.",
    ),
    "NOT_FOUND": E(404, "존재하지 않는 정보 입니다.", "The resource does not exist."),
    "METHOD_NOT_ALLOWED": E(405, "허용되지 않은 메서드입니다.", "The method is not allowed."),
    # cancel
    "ALREADY_CANCELED_PAYMENT": E(
        400, "이미 취소된 결제 입니다.", "This payment is already cancelled."
    ),
    "INVALID_REFUND_ACCOUNT_INFO": E(
        400,
        "환불 계좌번호와 예금주명이 일치하지 않습니다.",
        "The refund account number and holder do not match.",
    ),
    "INVALID_REFUND_ACCOUNT_NUMBER": E(
        400,
        "잘못된 환불 계좌번호입니다.",
        "The refund account number is invalid.",
    ),
    "INVALID_BANK": E(400, "유효하지 않은 은행입니다.", "The bank is invalid."),
    "NOT_MATCHES_REFUNDABLE_AMOUNT": E(
        400, "잔액 결과가 일치하지 않습니다.", "The refundable amount does not match the balance."
    ),
    "REFUND_REJECTED": E(
        400, "환불이 거절됐습니다. 결제사에 문의 부탁드립니다.", "The refund was rejected."
    ),
    "ALREADY_REFUND_PAYMENT": E(
        400, "이미 환불된 결제입니다.", "This payment is already refunded."
    ),
    "NOT_CANCELABLE_AMOUNT": E(
        403, "취소 할 수 없는 금액 입니다.", "This amount cannot be cancelled."
    ),
    "NOT_CANCELABLE_PAYMENT": E(
        403, "취소 할 수 없는 결제 입니다.", "This payment cannot be cancelled."
    ),
    "NOT_ALLOWED_PARTIAL_REFUND": E(
        403,
        "에스크로 주문, 현금 카드 결제일 때는 부분 환불이 불가합니다.",
        "Partial refunds are not allowed for this payment.",
    ),
    "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": E(
        403,
        "입금 대기중인 결제는 부분 환불이 불가합니다.",
        "No partial refund while waiting for the deposit.",
    ),
    "EXCEED_MAX_REFUND_DUE": E(
        403, "환불 가능한 기간이 지났습니다.", "The refund period has passed."
    ),
    "FAILED_REFUND_PROCESS": E(
        500,
        "은행 응답시간 지연이나 일시적인 오류로 환불요청에 실패했습니다.",
        "The refund failed because of a bank delay or temporary error.",
    ),
    "FAILED_METHOD_HANDLING_CANCEL": E(
        500,
        "취소 중 결제 시 사용한 결제 수단 처리과정에서 일시적인 오류가 발생했습니다.",
        "A temporary error occurred handling the original method.",
    ),
    "FAILED_PARTIAL_REFUND": E(
        500,
        "은행 점검, 해약 계좌 등의 사유로 부분 환불이 실패했습니다.",
        "The partial refund failed (bank maintenance or closed account).",
    ),
}


def error_message(code: str, english: bool) -> str:
    known = ERRORS.get(code)
    if known is None:
        return "An error occurred." if english else "오류가 발생했습니다."
    return known.en if english else known.ko


def error_status(code: str, default: int = 400) -> int:
    known = ERRORS.get(code)
    return known.http_status if known else default
