"""Toss Payments core API v1 as the sandbox emulates it (pg-contracts.md section 1)."""
