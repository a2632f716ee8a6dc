"""KakaoPay single payment (new online API) as the sandbox emulates it (docs/sandbox.md,
KakaoPay)."""
