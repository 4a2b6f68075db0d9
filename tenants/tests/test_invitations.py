"""Invitations and passwords: an invitation never sets a password; the invited person chooses
it from the link emailed to them, and anyone can ask for a new link."""

from __future__ import annotations

import re

from django.test import Client

from conftest import PASSWORD
from tenants.models import Membership, User

NEW_PASSWORD = "a-long-fresh-passphrase-77"


def _invite(api_as, world, email: str, role: str = "viewer", **extra):  # type: ignore[no-untyped-def]
    return api_as(world.owner, world.tenant).post(
        "/api/v1/users/", {"email": email, "role": role, **extra}, format="json"
    )


def _link(message) -> str:  # type: ignore[no-untyped-def]
    return re.search(r"http://\S+/set-password/\S+/", message.body).group(0)


def _path(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def _choose_password(link: str, password: str = NEW_PASSWORD) -> Client:
    client = Client()
    page = client.get(_path(link), follow=True)  # the token moves from the address into the session
    assert "Choose your password" in page.content.decode()
    done = client.post(page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    assert done.status_code == 302, done.content.decode()[:500]
    return client


def _signs_in(email: str, password: str) -> bool:
    return Client().post("/login/", {"email": email, "password": password}).status_code == 302


def test_an_invited_person_chooses_their_password_from_the_emailed_link(
    tenant_a, api_as, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(api_as, tenant_a, "New.Hire@acme.example.com")

    assert response.status_code == 201, response.content
    user = User.objects.get(email="new.hire@acme.example.com")
    assert not user.has_usable_password()  # nobody but the address's owner can choose it
    [mail] = mailoutbox
    assert mail.to == ["new.hire@acme.example.com"]
    assert "Acme Ltd" in mail.subject
    link = _link(mail)

    _choose_password(link)

    assert _signs_in("new.hire@acme.example.com", NEW_PASSWORD)
    again = Client().get(_path(link), follow=True).content.decode()
    assert "used already or has expired" in again  # the link works once


def test_an_invitation_cannot_set_a_password(tenant_a, api_as, mailoutbox):
    response = _invite(api_as, tenant_a, "chosen@acme.example.com", password="Chosen-by-the-inviter-1")

    assert response.status_code == 400
    assert "chooses it from the link" in str(response.json()["password"])
    assert not User.objects.filter(email="chosen@acme.example.com").exists()
    assert mailoutbox == []


def test_inviting_an_address_first_does_not_give_its_account_away(
    tenant_a, tenant_b, api_as, mailoutbox, django_capture_on_commit_callbacks
):
    # Acme's owner invites Beta's future CFO first; Beta's owner invites the CFO afterwards
    with django_capture_on_commit_callbacks(execute=True):
        first = _invite(api_as, tenant_a, "cfo@beta.example.com")
        second = _invite(api_as, tenant_b, "cfo@beta.example.com", role="accountant")

    assert (first.status_code, second.status_code) == (201, 201)
    assert not _signs_in("cfo@beta.example.com", PASSWORD)  # no password anyone but the CFO knows
    assert [m.to for m in mailoutbox] == [["cfo@beta.example.com"], ["cfo@beta.example.com"]]
    _choose_password(_link(mailoutbox[-1]))
    assert _signs_in("cfo@beta.example.com", NEW_PASSWORD)
    roles = set(Membership.objects.filter(user__email="cfo@beta.example.com").values_list("tenant__slug", "role"))
    assert roles == {("acme", "viewer"), ("beta", "accountant")}


def test_an_existing_account_is_told_it_was_added_and_keeps_its_password(
    tenant_a, tenant_b, api_as, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(api_as, tenant_b, tenant_a.viewer.email)

    assert response.status_code == 201
    [mail] = mailoutbox
    assert "added you to Beta GmbH" in mail.body
    assert "/set-password/" not in mail.body
    assert _signs_in(tenant_a.viewer.email, PASSWORD)


def test_a_forgotten_password_is_chosen_again_from_a_link(tenant_a, mailoutbox):
    client = Client()

    known = client.post("/forgot-password/", {"email": tenant_a.viewer.email}, follow=True).content.decode()
    unknown = client.post("/forgot-password/", {"email": "nobody@nowhere.example.com"}, follow=True).content.decode()

    said = "If that address has an account, a link to choose a new password is on its way."
    assert said in known
    assert said in unknown  # the page does not tell who has an account
    [mail] = mailoutbox
    assert mail.to == [tenant_a.viewer.email]
    _choose_password(_link(mail))
    assert _signs_in(tenant_a.viewer.email, NEW_PASSWORD)
    assert not _signs_in(tenant_a.viewer.email, PASSWORD)
    assert "Forgot your password?" in Client().get("/login/").content.decode()
