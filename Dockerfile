# One image for web, worker and mcp (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=ecomops.settings.prod
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN SECRET_KEY=build-only-not-a-secret-0123456789-0123456789-0123456789 \
    CREDENTIAL_KEYS=build-only-not-a-secret-0123456789 \
    DATABASE_URL=postgresql://build@localhost/build \
    python manage.py collectstatic --noinput

RUN useradd --system --home /app ecomops
USER ecomops
EXPOSE 8000
CMD ["gunicorn", "ecomops.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
