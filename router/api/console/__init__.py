"""The operator's console: server-rendered pages (Jinja2), no build step, no script.

Every page needs a session (router.api.signin); without one the browser is sent to
/login. Every form carries the session's CSRF token, checked before anything changes.
Acknowledge, resolve, absences and overrides go through the same code as the API, so
they are recorded as the signed-in person and audited alike.
"""

from fastapi import APIRouter

from router.api.console import incidents, maintenance, oncall
from router.api.console.pages import console_templates, install, page_message, page_templates

router = APIRouter(include_in_schema=False)
router.include_router(incidents.router)
router.include_router(oncall.router)
router.include_router(maintenance.router)

__all__ = ["console_templates", "install", "page_message", "page_templates", "router"]
