from __future__ import annotations

from rest_framework import serializers


class TableOutput(serializers.Serializer):
    """A canonical table the user may read, and the columns its rows answer."""

    table = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
