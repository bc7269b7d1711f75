"""State in Redis: key formats, the store and the one writer of plans, timers,
send-once markers, the outbox, sessions, the roster's overrides, counters."""
