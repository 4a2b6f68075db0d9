from __future__ import annotations

from typing import Any

from django.db import models

from connections.crypto import decrypt_json, encrypt_json


class EncryptedJSONField(models.BinaryField):
    """A JSON object stored encrypted (``connections.crypto``). It cannot be filtered on."""

    description = "Encrypted JSON"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt_json(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        data, _key_index = decrypt_json(value)
        return data

    def to_python(self, value: Any) -> Any:
        return value

    def get_lookup(self, lookup_name: str):
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None
