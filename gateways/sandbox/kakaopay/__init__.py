"""KakaoPay single payment (new online API) as the sandbox emulates it (pg-contracts.md
section 3)."""
