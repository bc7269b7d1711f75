"""What the router is configured with: settings from the environment, the clock the
processes read, and the rule files (loading, checking, summarising; contact methods
are parsed by apprise, which the core must not import)."""
