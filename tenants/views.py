"""Session pages: login, logout, tenant switcher, and the login lockout answer."""

from __future__ import annotations

import structlog
from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordResetConfirmView
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ecomops.middleware import SESSION_TENANT_KEY
from tenants import services
from tenants.models import User
from tenants.permissions import active_membership

logger = structlog.get_logger(__name__)


class LoginForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


def login_page(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        user = authenticate(request, username=email, password=form.cleaned_data["password"])
        known = User.objects.filter(email=email).first()
        if user is None:
            services.login_audit(user=known, email=email, tenant=None, success=False, reason="bad_credentials")
            form.add_error(None, "Email or password is incorrect.")
        else:
            membership = services.membership_for_login(user=user)
            if membership is None and not user.is_staff:
                form.add_error(None, "This account is not a member of any tenant.")
            else:
                login(request, user, backend="tenants.backends.TenantRoleBackend")
                if membership is not None:
                    request.session[SESSION_TENANT_KEY] = str(membership.tenant_id)
                    services.login_audit(user=user, email=email, tenant=membership.tenant, success=True)
                return redirect(_local_path(request, request.GET.get("next")))
    return render(request, "registration/login.html", {"form": form}, status=200 if not form.errors else 400)


def _local_path(request: HttpRequest, next_url: str | None) -> str:
    """Where to go back to after signing in or switching tenant: a path of this site, never
    another host nor a view name; the dashboard otherwise."""
    next_url = next_url or ""
    if next_url.startswith("/") and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return reverse("dashboard")


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You have been signed out.")
    return redirect("login")


@login_required
@require_POST
def switch_tenant_page(request: HttpRequest) -> HttpResponse:
    target = services.find_tenant(request.POST.get("tenant", ""))
    if target is None or active_membership(request.user, target) is None:
        return render(request, "404.html", status=404)
    next_url = _local_path(request, request.POST.get("next"))  # checked before anything is switched
    services.membership_for_login(user=request.user, tenant=target)
    request.session[SESSION_TENANT_KEY] = str(target.pk)
    from audit.services import audit_record

    audit_record(action="auth.switch_tenant", actor=request.user, target=target, tenant=target)
    messages.success(request, f"Switched to {target.name}.")
    return redirect(next_url)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    from ecomops.tenancy import current_tenant
    from netsuite.selectors import posting_summary
    from recon.charts import payout_charts
    from recon.close import closed_months_changed, month_close, month_to_open
    from recon.selectors import recon_summary

    tenant = current_tenant()
    recon = recon_summary(user=request.user) if tenant else None
    # the latest ended month with payouts: is it closed, ready, or what is left
    last_month = (
        month_close(user=request.user, month=month_to_open(user=request.user, today=timezone.localdate()))
        if tenant
        else None
    )
    context = {
        "recon": recon,
        "charts": payout_charts(tenant_id=tenant.pk) if recon is not None else [],
        "postings": posting_summary(user=request.user) if tenant else None,
        "closed_changed": closed_months_changed(user=request.user, known=last_month) if tenant else [],
        "last_month": last_month,
    }
    return render(request, "tenants/dashboard.html", context)


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None, credentials=None):
    """django-axes' answer once an email+IP pair is locked out: JSON for the API, a page otherwise."""
    message = "Too many failed login attempts. Try again later."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "code": "locked_out"}, status=429)
    form = LoginForm()
    form.add_error(None, message)
    return render(request, "registration/login.html", {"form": form}, status=429)


class PasswordSetView(PasswordResetConfirmView):
    """Choose a password from an emailed link (an invitation, or a forgotten password).

    Django's view checks the one-time token (valid until a password is set, or for
    ``PASSWORD_RESET_TIMEOUT``) and moves it out of the address into the session before the
    form is shown, so it does not leak through the Referer header.
    """

    template_name = "registration/password_set.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form):
        response = super().form_valid(form)
        logger.info("password_set", user_id=form.user.pk)
        messages.success(self.request, "Your password is set; sign in with it.")
        return response


class PasswordForgotForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))


def password_forgot_page(request: HttpRequest) -> HttpResponse:
    """Ask for a link to choose a new password. The answer is the same whether or not the
    address has an account, so the page does not tell who uses EcomOps."""
    form = PasswordForgotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = User.objects.filter(email=form.cleaned_data["email"].lower(), is_active=True).first()
        if user is not None:
            services.password_link_send(user=user)
        messages.info(request, "If that address has an account, a link to choose a new password is on its way.")
        return redirect("login")
    return render(request, "registration/password_forgot.html", {"form": form}, status=400 if form.errors else 200)
