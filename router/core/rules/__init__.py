"""The rules: a directory of YAML files, validated once into plain pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

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

    def pipeline(self, pipeline_id: str) -> Pipeline:
        return self.pipelines[pipeline_id]


__all__ = ["Rules"]
