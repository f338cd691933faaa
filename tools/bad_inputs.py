"""Run the rows of docs/bad-inputs.md "On running hosts" against a running stand.

Each row is one playbook run with a mistake a user makes on a converged stand
(the inventory names another cluster, a standby's slot renamed, a restore
target name that would reach a configuration file, a switchover target that
is not a standby). A row passes when the run fails, its output holds the row's
message, and its recap shows changed=0 on every host. `invoke stand.bad-inputs`
runs them on the local stand; the failover scenario runs them on its hosts.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools import stand as st

DOC = st.ROOT / "docs" / "bad-inputs.md"
SECTION = "## On running hosts"
_ROW = re.compile(
    r"^\|\s*(?P<n>\d+)\s*\|\s*`(?P<input>[^`]+)`\s*\|\s*(?P<message>.+?)\s*\|\s*(?P<changed>[^|]+?)\s*\|$"
)
# A refusal is a check's message, not a template or evaluation error whose quoted source holds the words.
NOT_A_CHECK = re.compile(r"is undefined|Error while|Error rendering|Syntax error|Finalization of task args")
PLAYBOOKS = ("site", "switchover", "failover", "rejoin", "restore", "drill", "verify")


@dataclass(frozen=True)
class Row:
    number: int
    playbook: str
    extra_vars: dict
    host_vars: dict
    message: str

    @property
    def label(self) -> str:
        return f"{self.number} ({self.playbook})"


@dataclass
class Result:
    row: Row
    rc: int
    changed: dict[str, int]
    found: bool
    errored: bool = False
    tail: str = ""

    @property
    def passed(self) -> bool:
        refused = self.rc != 0 and self.found and not self.errored
        return refused and bool(self.changed) and not any(self.changed.values())


def rows(doc: Path = DOC) -> list[Row]:
    """The section's table rows; a row that does not parse is an error, not a skip."""
    text = doc.read_text()
    if SECTION not in text:
        raise ValueError(f"{doc}: no '{SECTION}' section")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        if not re.match(r"^\|\s*\d+\s*\|", line):
            continue
        m = _ROW.match(line.strip())
        if not m:
            raise ValueError(f"{doc}: row does not parse (| n | `input` | message | changed |): {line}")
        spec = yaml.safe_load(m.group("input"))
        if not isinstance(spec, dict) or spec.get("playbook") not in PLAYBOOKS:
            raise ValueError(f"{doc}: row {m.group('n')} needs playbook: one of {', '.join(PLAYBOOKS)}")
        where = f"{doc}: row {m.group('n')}"
        if unknown := set(spec) - {"playbook", "vars", "host_vars"}:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)} (playbook, vars, host_vars)")
        if m.group("changed") != "nothing":
            raise ValueError(f"{where}: every row here changes nothing (got {m.group('changed')!r})")
        found.append(
            Row(
                int(m.group("n")),
                spec["playbook"],
                spec.get("vars") or {},
                spec.get("host_vars") or {},
                m.group("message").replace("\\|", "|"),
            )
        )
    if not found:
        raise ValueError(f"{doc}: the '{SECTION}' section has no rows")
    return found


def words(text: str) -> str:
    """One line of single spaces: Ansible wraps its messages to the terminal's width."""
    return " ".join(text.split())


def run_row(row: Row, inventories: tuple[Path, ...], workdir: Path) -> Result:
    extra: list[str] = []
    if row.extra_vars:
        extra += ["-e", json.dumps(row.extra_vars)]
    if inventories:
        sources, env, secrets = inventories, None, []
    else:
        # The stand: its inventory, passwords and settings, as run_playbooks gives them without inventories.
        sources, env, secrets = (st.INVENTORY,), st.ansible_env(), ["-e", f"@{st.ensure_secrets()}"]
    if row.host_vars:
        added = workdir / f"row-{row.number}.yml"
        added.write_text(yaml.safe_dump({"all": {"hosts": row.host_vars}}))
        sources = (*sources, added)
    run = st.run_playbook(
        f"otus.pgrepl.{row.playbook}", *extra, *secrets, stream=False, inventories=sources, env=env
    )
    changed = {host: counts["changed"] for host, counts in run.recap.items()}
    found = words(row.message) in words(run.output)
    lines = run.output.split("PLAY RECAP")[0].splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith(("fatal:", "[ERROR]", "ERROR!"))]
    tail = "\n".join(lines[failed[0] : failed[0] + 12] if failed else lines[-20:])
    return Result(row, run.rc, changed, found, bool(NOT_A_CHECK.search(run.output)), tail)


def run(
    inventories: tuple[Path, ...] = (), only: set[int] | None = None, say=print, jobs: int = 2
) -> list[Result]:
    """Every row (or the `only` ones), `jobs` at a time: each run only reads, and refuses before a change."""
    chosen = [r for r in rows() if not only or r.number in only]
    if not chosen:
        raise ValueError(f"no row numbered {sorted(only or [])} in {DOC.name}'s '{SECTION}'")
    with tempfile.TemporaryDirectory(prefix="otus-pgrepl-bad-inputs-") as tmp:
        with ThreadPoolExecutor(jobs) as pool:
            results = list(pool.map(lambda r: run_row(r, inventories, Path(tmp)), chosen))
    for res in results:
        changed = ", ".join(f"{h}={n}" for h, n in sorted(res.changed.items())) or "no recap"
        error = ", an ERROR, not a check" if res.errored else ""
        say(
            f"{'pass' if res.passed else 'FAIL'}  row {res.row.label}: rc={res.rc}, "
            f"message {'found' if res.found else 'NOT found'}{error}, changed: {changed}"
        )
        if not res.passed:
            say(f"    expected: {res.row.message}\n    the run ended with:\n{res.tail}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bad_inputs", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-i", "--inventory", action="append", type=Path, default=[], help="default: the stand's"
    )
    parser.add_argument("--only", default="", help="row numbers, comma-separated (default: every row)")
    args = parser.parse_args(argv)
    try:
        only = {int(n) for n in args.only.split(",") if n.strip()}
        results = run(tuple(args.inventory), only)
    except ValueError as exc:
        parser.error(str(exc))
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
