"""What a process builds at start-up, kept out of the cyclic garbage collector's way.

A worker, an api process or the scheduler builds its rules, templates, app and clients
once and keeps them for its life. Each full collection walked all of them again, in
processes that make thousands of short-lived objects a page: frozen, a burst of P1s
took about a seventh less of the machine's CPU a page (docs/performance.md).
`gc.freeze()` moves every object alive at that moment into a generation the collector
never scans; collections then walk only what the work made since. What is frozen is
never collected, so it is called once a process has built what it keeps, not later.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what start-up left behind, then freeze the rest: once per process, in the
    process that does the work (after a fork, the child's), and never in one that goes
    on building and dropping apps, a test's: what it froze would never be collected."""
    gc.collect()
    gc.freeze()
