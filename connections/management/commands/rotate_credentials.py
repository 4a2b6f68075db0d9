"""Re-encrypt every connection's credentials with the newest key in CREDENTIAL_KEYS.

Rotation without downtime: put the new key first in CREDENTIAL_KEYS (old ones after it)
and deploy; everything keeps reading. Run this command; then remove the old keys.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection as db
from django.db import transaction

from connections.crypto import decrypt_json, encrypt_json
from connections.models import Connection
from ecomops.tenancy import unsafe_all_tenants


class Command(BaseCommand):
    help = __doc__.strip().split("\n")[0]

    def handle(self, *args, **options) -> None:
        rotated = checked = 0
        table = db.ops.quote_name(Connection._meta.db_table)
        for tenant in unsafe_all_tenants():
            # Lock the rows in pk order so a concurrent credentials update waits, not clobbers.
            with transaction.atomic(), db.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, credentials FROM {table} WHERE tenant_id = %s ORDER BY id FOR UPDATE",
                    [tenant.pk],
                )
                rows = cursor.fetchall()
                for pk, token in rows:
                    checked += 1
                    value, key_index = decrypt_json(token)
                    if key_index == 0:
                        continue
                    cursor.execute(f"UPDATE {table} SET credentials = %s WHERE id = %s", [encrypt_json(value), pk])
                    rotated += 1
        self.stdout.write(f"Checked {checked} connections; re-encrypted {rotated} with the newest key.")
