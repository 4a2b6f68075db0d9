#!/bin/sh
# Runs once, on the first start of the postgres container: the application role and database.
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE ecomops LOGIN PASSWORD '${APP_DB_PASSWORD}' NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE;
CREATE DATABASE ecomops OWNER ecomops;
SQL
