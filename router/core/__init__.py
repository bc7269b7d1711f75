"""The pure core: rules, events, classification, calendar, rotation, escalation,
decide, incidents, the fold's plan, paging. No Redis, HTTP, broker, mail or clock
reads: every time-dependent function takes `now` (docs/architecture.md)."""
