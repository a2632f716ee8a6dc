"""Toss Payments core API v1 as the sandbox emulates it (docs/sandbox.md, Toss API)."""
