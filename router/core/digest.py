"""The per-person page budget: once a person has been paged `after_pages` times in the
last window, further pages to them join one digest per window instead (router.delivery
.firing.digest). The first page of a P1 always goes; escalation to the next person is
unaffected (each person has their own budget). Pure: the counts are read by the shell."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PageBudget:
    """Pages each person got in the last window, as read once for a fire task, counted
    on as the task decides its pages."""

    after_pages: int
    counts: dict[str, int] = field(default_factory=dict)

    def goes(self, person: str, severity: str, index: int) -> bool:
        """Whether a page to `person` goes now (counted) or joins their digest. A P1's
        first page is never held."""
        first_p1 = severity == "P1" and index == 0
        if not first_p1 and self.counts.get(person, 0) >= self.after_pages:
            return False
        self.counts[person] = self.counts.get(person, 0) + 1
        return True
