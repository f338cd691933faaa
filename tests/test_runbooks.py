"""Runbook commands name playbooks and variables that exist, and say where the passwords come from.

A static check of every command, and of the marked blocks that `invoke stand.runbooks`
(tools/runbooks.py) runs on the local stand. It catches a playbook or variable renamed in the code
and left behind in the prose, and a command that would stop at the password preflight because it
passes no vault and no secrets file.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tools import runbooks

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = ROOT / "collections" / "ansible_collections" / "otus" / "pgrepl"
DOCS = sorted((ROOT / "docs").rglob("*.md"))
# A command in a code span or an indented or fenced block (a line ending in '\' joined to the next).
COMMAND = re.compile(r"ansible-playbook [^`\n]*")


def _commands() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for m in COMMAND.finditer(path.read_text().replace("\\\n", " ")):
            found.append((path.relative_to(ROOT).as_posix(), m.group(0)))
    return found


def _known_variables() -> set[str]:
    names: set[str] = set()
    for spec in COLLECTION.glob("roles/*/meta/argument_specs.yml"):
        for entry in (yaml.safe_load(spec.read_text())["argument_specs"] or {}).values():
            names |= set((entry or {}).get("options") or {})
    # The playbooks' own variables: what they read with a default.
    for playbook in COLLECTION.glob("playbooks/**/*.yml"):
        names |= set(re.findall(r"\b([a-z_]+) \| default\(", playbook.read_text()))
    return names


def _extra_vars(argv: list[str]) -> list[str]:
    keys = []
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag not in {"-e", "--extra-vars"} or value.startswith("@"):
            continue
        if value.startswith("{"):
            keys += list(json.loads(value))
        else:
            keys += [pair.split("=", 1)[0] for pair in value.split() if "=" in pair]
    return keys


def test_the_docs_hold_playbook_commands():
    assert len(_commands()) >= 8


@pytest.mark.parametrize(("doc", "command"), _commands(), ids=lambda v: str(v)[:60])
def test_a_command_names_what_exists_and_passes_the_passwords(doc, command):
    argv = shlex.split(command.replace("[", "").replace("]", ""))
    playbooks = [a.removeprefix("otus.pgrepl.") for a in argv if a.startswith("otus.pgrepl.")]
    assert playbooks, f"{doc}: no otus.pgrepl playbook in {command!r}"
    for name in playbooks:
        assert (COLLECTION / "playbooks" / f"{name}.yml").is_file(), f"{doc}: no playbook {name}"
    unknown = set(_extra_vars(argv)) - _known_variables()
    assert not unknown, f"{doc}: {command!r} sets {sorted(unknown)}, which nothing reads"
    secrets = "--ask-vault-pass" in argv or "--vault-password-file" in command or "@" in command
    assert secrets or "--syntax-check" in argv, f"{doc}: {command!r} passes no vault and no secrets file"


def test_the_runbooks_mark_blocks_that_run_on_the_stand():
    """`invoke stand.runbooks` runs these; each names where it runs and fills every placeholder."""
    found = runbooks.blocks()
    assert len(found) >= 10
    assert {b.doc for b in found} >= {"backup.md", "restart.md", "switchover.md", "standby-from-archive.md"}
    values = {p: "x" for p in runbooks.PLACEHOLDERS}
    for block in found:
        for command in block.commands:
            text = runbooks.for_the_stand(command.text, values)
            if block.where == "the controller" and "ansible-playbook" in text:
                assert runbooks.STAND_ARGS in text, f"{block.doc}:{block.line}: {command.text}"
            else:
                assert text.startswith(("invoke ", "runuser ")), f"{block.doc}:{block.line}: {command.text}"


def test_a_block_joins_lines_and_reads_the_text_to_expect(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "text\n\n<!-- runs on: a standby -->\n```sh\nrunuser -u postgres -- psql \\\n  -c 'SELECT 1'\n"
        "# 1\nrunuser -u barman -- barman check <server>   # every line OK\n```\n"
    )
    (block,) = runbooks.blocks([doc])
    assert (block.where, block.line) == ("a standby", 3)
    assert [c.text for c in block.commands] == [
        "runuser -u postgres -- psql -c 'SELECT 1'",
        "runuser -u barman -- barman check <server> # every line OK",
    ]
    assert block.commands[0].expect == ["1"]
    assert runbooks.for_the_stand(block.commands[1].text, {"<server>": "node1"}) == (
        "runuser -u barman -- barman check node1"
    )


@pytest.mark.parametrize(
    "text",
    [
        "<!-- runs on: the moon -->\n    runuser -u barman -- barman check x\n",
        "<!-- runs on: a standby -->\n\nplain prose\n",
    ],
)
def test_a_marker_that_names_no_place_or_no_block_is_an_error(tmp_path, text):
    doc = tmp_path / "x.md"
    doc.write_text(text)
    with pytest.raises(ValueError, match="x.md:1"):
        runbooks.blocks([doc])


def test_an_unknown_placeholder_is_an_error():
    with pytest.raises(ValueError, match="no stand value"):
        runbooks.for_the_stand("runuser -u barman -- barman show-backup <server> <id>", {"<server>": "a"})
