"""API plumbing shared by every app: one error shape, strict parsing, pagination, health."""
