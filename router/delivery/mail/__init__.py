"""Outgoing email: rendered messages, one backend interface, idempotent delivery."""
