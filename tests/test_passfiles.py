"""Passfile lines escape ':' and '\\' in every field: an IPv6 host holds colons (libpq would split there)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from ansible_collections.otus.pgrepl.plugins.module_utils.pg_clone import merge_pgpass, pgpass_line

ROLES = Path(__file__).resolve().parents[1] / "collections/ansible_collections/otus/pgrepl/roles"


def test_barmans_passfile_escapes_an_ipv6_host():
    template = (ROLES / "barman/templates/pgpass.j2").read_text()
    text = (
        jinja2.Environment(trim_blocks=True)
        .from_string(template)
        .render(
            ansible_managed="test",
            barman__servers=[{"host": "fd00::11", "port": 5432}],
            postgresql_barman_user="barman",
            postgresql_barman_password="pa:ss",
            postgresql_barman_streaming_user="streaming_barman",
            postgresql_barman_streaming_password="x",
        )
    )
    assert text.splitlines()[1:] == [
        "fd00\\:\\:11:5432:*:barman:pa\\:ss",
        "fd00\\:\\:11:5432:*:streaming_barman:x",
    ]


def test_the_standbys_passfile_escapes_an_ipv6_host_and_replaces_its_line():
    assert pgpass_line("fd00::12", 5432, "replicator", "s") == "fd00\\:\\:12:5432:*:replicator:s"
    merged = merge_pgpass("fd00\\:\\:12:5432:*:replicator:old\n", "fd00::12", 5432, "replicator", "new")
    assert merged == "fd00\\:\\:12:5432:*:replicator:new\n"


def test_the_peer_lines_escape_the_address_as_the_password():
    tasks = (ROLES / "postgresql_config/tasks/main.yml").read_text()
    escape = "replace('\\\\', '\\\\\\\\') | replace(':', '\\\\:')"
    assert f"postgresql__address | {escape}" in tasks
    assert f"postgresql_replication_password | {escape}" in tasks
