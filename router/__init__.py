"""alert-router: a PagerDuty-style on-call router for a data-engineering team."""
