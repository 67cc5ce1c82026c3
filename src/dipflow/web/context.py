"""What every route of the web app shares: the runtime, users, templates, the desktop hub.
Layer 6 (web).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from dipflow.runtime.runtime import Runtime
from dipflow.web.auth import UserDirectory, WebUser, current_user
from dipflow.web.hub import DesktopHub
from dipflow.web.mediagrant import MediaGrants
from dipflow.web.presence import Presence
from dipflow.web.security import csrf_token
from dipflow.web.sessions import SessionTable
from dipflow.web.throttle import LoginThrottle

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


def make_templates() -> Jinja2Templates:
    # Autoescape everything (the templates are all HTML): CRM and caller data is text.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    return Jinja2Templates(env=env)


@dataclass(slots=True, kw_only=True)
class WebContext:
    runtime: Runtime
    users: UserDirectory
    throttle: LoginThrottle
    hub: DesktopHub
    templates: Jinja2Templates
    sessions: SessionTable
    presence: Presence
    media: MediaGrants

    def user(self, conn: HTTPConnection) -> WebUser | None:
        """The signed-in user of this request or socket (None when signed out or expired)."""
        return current_user(conn, self.users, self.sessions)

    def page(
        self,
        request: Request,
        name: str,
        *,
        user: WebUser | None,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        return self.templates.TemplateResponse(
            request,
            name,
            {"user": user, "csrf_token": csrf_token(request.session), **context},
            status_code=status_code,
        )

    def supervisor_page_refusal(
        self, request: Request, user: WebUser | None, *, next_page: str
    ) -> Response | None:
        """What a supervisor page answers anyone else: the login page to a signed-out
        visitor (back to `next_page` after), 403 to an agent; None for a supervisor."""
        if user is None:
            return self.page(request, "login.html", user=None, error=None, next_page=next_page)
        if not user.is_supervisor:
            return self.page(request, "forbidden.html", user=user, status_code=403)
        return None

    def supervisor_json_refusal(self, user: WebUser | None) -> Response | None:
        """The same for a supervisor's JSON: 401 signed out, 403 an agent; None to serve."""
        if user is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        if not user.is_supervisor:
            return JSONResponse({"error": "supervisors only"}, status_code=403)
        return None
