"""The embedded server's settings file: written once, included once, rewritten only on change."""

from __future__ import annotations

import pytest

from ecomops import dbsetup


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    (tmp_path / "postgresql.conf").write_text("max_connections = 100\n")
    monkeypatch.setattr(dbsetup, "EMBEDDED_DIR", tmp_path)
    return tmp_path


def test_first_start_writes_the_settings_and_includes_them_once(data_dir):
    assert dbsetup._embedded_config_changed() is True

    settings = (data_dir / dbsetup.EMBEDDED_CONF).read_text()
    assert "shared_buffers = '1GB'" in settings
    assert "max_wal_size = '4GB'" in settings
    conf = (data_dir / "postgresql.conf").read_text()
    assert conf.startswith("max_connections = 100\n")
    assert conf.count(f"include_if_exists = '{dbsetup.EMBEDDED_CONF}'") == 1


def test_an_unchanged_start_needs_no_restart(data_dir):
    dbsetup._embedded_config_changed()
    before = (data_dir / "postgresql.conf").read_text()

    assert dbsetup._embedded_config_changed() is False
    assert (data_dir / "postgresql.conf").read_text() == before


def test_changed_settings_are_rewritten_and_ask_for_a_restart(data_dir, monkeypatch):
    dbsetup._embedded_config_changed()
    monkeypatch.setitem(dbsetup.EMBEDDED_SETTINGS, "shared_buffers", "512MB")

    assert dbsetup._embedded_config_changed() is True
    assert "shared_buffers = '512MB'" in (data_dir / dbsetup.EMBEDDED_CONF).read_text()
    assert (data_dir / "postgresql.conf").read_text().count("include_if_exists") == 1
