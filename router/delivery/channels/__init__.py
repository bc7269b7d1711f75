"""Channels beside email that wake people (push, chat), through apprise URLs; sent once
per idempotency key like email (router.state.sendonce)."""
