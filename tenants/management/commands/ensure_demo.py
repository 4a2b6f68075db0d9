from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from tenants.demo import DEMO_EMAIL, demo_ensure


class Command(BaseCommand):
    help = "Create the demo tenant (pro plan) and its owner demo@example.com. Refused under production settings."

    def handle(self, *args, **options) -> None:
        password = settings.ECOMOPS_DEMO_PASSWORD
        try:
            tenant, _user, created = demo_ensure(password=password)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        verb = "Created" if created else "Found"
        self.stdout.write(f"{verb} demo tenant '{tenant.slug}' ({tenant.plan_id} plan).")
        self.stdout.write(f"Sign in at /login/ as {DEMO_EMAIL} with password: {password}")
