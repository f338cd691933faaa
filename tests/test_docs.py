"""The generated reference matches the argument specs and module docs."""

from __future__ import annotations

import re

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


def test_markup_runs_to_its_own_closing_parenthesis():
    text = docs._text("Make it with C(pg_create_restore_point()), see O(a) and I(why); RV(queries).")
    assert text == "Make it with `pg_create_restore_point()`, see `a` and *why*; `queries`."
    assert docs._text("an unclosed C(mark") == "an unclosed C(mark"


def test_a_pipe_never_ends_a_cell():
    assert docs._text("C(a | b)") == "`a \\| b`"
    assert docs._default({"default": "{{ x | default(true) }}"}) == "`'{{ x \\| default(true) }}'`"


def _cells(row: str) -> int:
    """Cells of a Markdown table row: a `|` ends a cell unless it is escaped."""
    return len([c for c in row.replace("\\|", "").split("|")]) - 2


def test_every_reference_row_has_the_cells_of_its_table():
    for path, text in docs.render().items():
        header = None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.startswith("|"):
                header = None
                continue
            header = header if header is not None else _cells(line)
            assert _cells(line) == header, f"{path.name}:{number}: {line[:120]}"


def test_every_variable_a_playbook_reads_is_in_its_header():
    for path in sorted(docs.PLAYBOOKS.glob("*.yml")):
        read = set(re.findall(r"(?<![.\w])([a-z][a-z_]*) \| default\(", path.read_text()))
        own = {name for name in read if "__" not in name}
        _, _, documented = docs.playbook_header(path)
        missing = sorted(own - set(documented))
        assert not missing, f"{path.name}: {missing} not in its '# Variables (-e):' header"


def test_the_playbook_reference_lists_the_playbooks_and_their_variables():
    text = docs.playbooks_reference()
    for name in ("backup", "restore", "drill", "switchover", "failover", "rejoin", "site", "verify", "tls"):
        assert f"## otus.pgrepl.{name}" in text
    assert "## otus.pgrepl.discover" not in text
    for variable in ("restore_hosts", "drill_hosts", "barman_server", "backup_incremental", "rejoin_fenced"):
        assert f"| `{variable}` |" in text
