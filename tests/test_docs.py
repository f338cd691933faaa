"""The generated reference matches the argument specs and module docs."""

from __future__ import annotations

from tools import docs


def test_reference_is_up_to_date():
    for path, text in docs.render().items():
        assert path.exists(), f"{path} is missing: run `nox -s docs`"
        assert path.read_text() == text, f"{path} is out of date: run `nox -s docs`"


def test_reference_covers_every_role_option_and_module():
    rendered = docs.render()
    roles = rendered[docs.OUT / "roles.md"]
    modules = rendered[docs.OUT / "modules.md"]
    for name in (
        "postgresql_replication_password",
        "barman_retention_policy",
        "postgresql_config_max_slot_wal_keep_size",
    ):
        assert f"`{name}`" in roles
    for name in (
        "otus.pgrepl.pg_standby_clone",
        "otus.pgrepl.barman_slot",
        "`primary_password`",
        "`wait_timeout`",
    ):
        assert name in modules
