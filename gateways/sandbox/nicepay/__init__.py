"""NICEPAY Start API v1 as the sandbox emulates it (docs/sandbox.md, NicePay)."""
