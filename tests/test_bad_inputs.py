"""docs/bad-inputs.md's running-hosts rows parse into runs; a run passes only when it refuses cleanly."""

from __future__ import annotations

import pytest

from tools import bad_inputs as bi
from tools import stand as st


def test_the_running_hosts_rows_parse_and_follow_the_first_table():
    rows = bi.rows()
    assert len(rows) >= 5
    before = bi.DOC.read_text().split(bi.SECTION)[0]
    first_table = [line for line in before.splitlines() if line.startswith("| ")]
    last = int(first_table[-1].split("|")[1])
    assert [r.number for r in rows] == list(range(last + 1, last + 1 + len(rows)))
    assert all(r.message and r.playbook in bi.PLAYBOOKS for r in rows)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("| 1 | `{vars: {a: 1}}` | msg | nothing |", "needs playbook"),
        ("| 1 | `{playbook: site, hosts: x}` | msg | nothing |", "unknown keys"),
        ("| 1 | `{playbook: site}` | msg | the primary |", "changes nothing"),
        ("| 1 | {playbook: site} | msg | nothing |", "does not parse"),
    ],
)
def test_a_bad_row_is_an_error(tmp_path, line, error):
    doc = tmp_path / "bad.md"
    header = "| # | input | message | changed |\n| --- | --- | --- | --- |"
    doc.write_text(f"# t\n\n{bi.SECTION}\n\n{header}\n{line}\n")
    with pytest.raises(ValueError, match=error):
        bi.rows(doc)


def test_a_section_without_rows_is_an_error(tmp_path):
    doc = tmp_path / "bad.md"
    later = "## Next\n| 1 | `{playbook: site}` | m | nothing |"
    doc.write_text(f"# t\n\n{bi.SECTION}\n\nnothing here\n\n{later}\n")
    with pytest.raises(ValueError, match="no rows"):
        bi.rows(doc)


ROW = bi.Row(60, "site", {"postgresql_port": 5433}, {}, "the inventory names 17/main:5433")
OUTPUT = """TASK [x] fatal: [node1]: FAILED! => {"msg": "node1 holds 17/main:5432 but the
inventory names 17/main:5433 (version/cluster:port)."}
PLAY RECAP *********
node1                      : ok=9    changed=C1    unreachable=0    failed=1    skipped=3
node2                      : ok=8    changed=0    unreachable=0    failed=0    skipped=3
"""


@pytest.mark.parametrize(
    ("rc", "changed", "message", "passed"),
    [
        (2, 0, True, True),
        (0, 0, True, False),  # accepted
        (2, 1, True, False),  # refused after a change
        (2, 0, False, False),  # refused for another reason
    ],
)
def test_a_row_passes_only_when_refused_with_its_message_and_no_change(  # noqa: PLR0917 -- parametrized
    monkeypatch, rc, changed, message, passed
):
    output = OUTPUT.replace("changed=C1", f"changed={changed}")
    if not message:
        output = output.replace("17/main:5433", "17/main:5432")

    def fake_run(playbook, *extra, **kwargs):
        assert playbook == "otus.pgrepl.site"
        assert extra[:2] == ("-e", '{"postgresql_port": 5433}')
        return st.PlaybookRun(playbook, rc, 1.0, st.parse_recap(output), output)

    monkeypatch.setattr(st, "run_playbook", fake_run)
    result = bi.run_row(ROW, (st.INVENTORY,), st.ROOT)
    assert result.passed is passed
    assert result.changed == {"node1": changed, "node2": 0}


def test_no_recap_is_no_pass(monkeypatch):
    def fake_run(playbook, *extra, **kwargs):
        return st.PlaybookRun(playbook, 4, 1.0, {}, "ERROR! no inventory")

    monkeypatch.setattr(st, "run_playbook", fake_run)
    assert not bi.run_row(ROW, (st.INVENTORY,), st.ROOT).passed
