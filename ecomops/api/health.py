"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means not ready; the message is for operators
        return False, type(exc).__name__
    return True, "ok"


def check_broker() -> tuple[bool, str]:
    """The django-q2 broker: Redis when configured, else the ORM broker on the database."""
    if settings.REDIS_URL:
        try:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
            client.ping()
        except Exception as exc:  # any failure means not ready
            return False, type(exc).__name__
        return True, "ok (redis)"
    ok, message = check_database()
    return ok, f"{message} (orm)" if ok else message


class LivenessView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Liveness", responses={200: dict})
    def get(self, request):
        return Response({"status": "ok"})


class ReadinessView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Readiness: database and job broker reachable", responses={200: dict, 503: dict})
    def get(self, request):
        db_ok, db_message = check_database()
        broker_ok, broker_message = check_broker()
        ready = db_ok and broker_ok
        return Response(
            {"status": "ready" if ready else "unavailable", "database": db_message, "broker": broker_message},
            status=200 if ready else 503,
        )
