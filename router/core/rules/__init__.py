"""The rules: a directory of YAML files, validated once into plain pydantic models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from router.core.maintenance import Muted, Window, muting
from router.core.rules.oncall import OnCall
from router.core.rules.pipelines import Pipeline
from router.core.rules.routing import Routing
from router.core.rules.team import Team


class Rules(BaseModel):
    model_config = ConfigDict(frozen=True)

    team: Team
    oncall: OnCall
    pipelines: dict[str, Pipeline]
    routing: Routing
    maintenance: tuple[Window, ...] = ()
    """The one-off windows set at run time (router.core.roster), laid over the rules'."""

    def maintenance_windows(self) -> tuple[Window, ...]:
        """Every window, weekly (the rules') and one-off (run time). A method, not a
        cached property: `model_copy` would copy a cached value along."""
        if not self.maintenance:
            return self.routing.maintenance_windows
        return (*self.routing.maintenance_windows, *self.maintenance)

    def muting(self, pipeline: str, event_type: str, severity: str, now: datetime) -> Muted | None:
        """The maintenance window that keeps such an event, or such an incident's
        escalation, from paging at `now` (router.core.maintenance.muting)."""
        windows = self.maintenance_windows()
        if not windows:
            return None
        return muting(windows, pipeline, event_type, severity, now, self.team.zone)

    def event_types(self) -> frozenset[str]:
        """Every event type the rules name: in a routing rule, the paging policy, a
        runbook, an action or a deadline (a window over another type would mute nothing)."""
        paging = self.routing.paging
        named = {*paging.notify_types, *paging.resolves, *paging.report_blockers}
        named.update(t for types in paging.resolves.values() for t in types)
        for rule in self.routing.rules:
            named.update(rule.match.type or [])
        for pipeline in self.pipelines.values():
            named.update(pipeline.runbook)
            named.update(pipeline.actions)
            for deadline in pipeline.deadlines:
                named.update((deadline.expects, deadline.raises))
        return frozenset(named)

    def pipeline_names(self) -> dict[str, str]:
        return {pipeline.id: pipeline.name for pipeline in self.pipelines.values()}

    def pipeline(self, pipeline_id: str) -> Pipeline:
        return self.pipelines[pipeline_id]


__all__ = ["Rules"]
