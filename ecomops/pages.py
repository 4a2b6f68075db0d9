"""What every console page shares: a tenant, a permission, and full-page-or-partial rendering."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ecomops.tenancy import current_tenant


def tenant_page(perm: str | None = None) -> Callable:
    """A signed-in page inside the user's tenant, gated by ``perm`` (403 page otherwise)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if current_tenant() is None:
                return render(request, "404.html", status=404)
            if perm and not request.user.has_perm(perm):
                return render(request, "403.html", {"perm": perm}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def render_page(request: HttpRequest, template: str, partial: str, context: dict[str, Any]) -> HttpResponse:
    """The full page, or only its partial when htmx asks (the same view answers both)."""
    return render(request, partial if getattr(request, "htmx", False) else template, context)
