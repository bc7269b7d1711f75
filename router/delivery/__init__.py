"""Sending: email (templates and backends), push and chat channels, webhooks, and
the fired timers' handlers, one per kind."""
