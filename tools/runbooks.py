"""Run the runbooks' marked command blocks on the local stand (`invoke stand.runbooks`).

A block of commands in docs/runbooks/*.md runs here when the line before it (blank lines apart) is
a marker naming where its commands run:

    <!-- runs on: the controller -->     ansible-playbook and invoke lines, in the repository
    <!-- runs on: the Barman host -->    as root on the Barman host
    <!-- runs on: the primary -->        as root on the host that runs as the primary now
    <!-- runs on: a standby -->          as root on the first standby that runs

Each command is translated the way the runbooks' own header says for the local stand: `-i
inventory.yml --ask-vault-pass` becomes `-i stand/inventory.yml -e @stand/.secrets.yml`, and
`<server>`, `<Barman address>` and `<backup_id>` become the stand's Barman server, the Barman
host's address and `latest`. A comment line right after a command holds text its output must
contain; such a command passes on that text whatever its exit status (a refusal is an answer too),
any other on status 0. Blocks run in file order; the first command that fails stops the run. The
stand is switched back to the primary it had when a block moved it.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tools import stand as st
from tools.fault_stand import Stand, podman

RUNBOOKS = st.ROOT / "docs" / "runbooks"
WHERE = ("the controller", "the Barman host", "the primary", "a standby")
MARKER = re.compile(r"^<!-- runs on: (.+?) -->$")
PLACEHOLDERS = ("<server>", "<Barman address>", "<backup_id>")
STAND_ARGS = "-i stand/inventory.yml -e @stand/.secrets.yml"


@dataclass
class Command:
    text: str
    expect: list[str] = field(default_factory=list)


@dataclass
class Block:
    doc: str
    line: int
    where: str
    commands: list[Command]


def _code_lines(lines: list[str], start: int) -> list[str]:
    """The code block from lines[start] on (fenced or indented by four spaces), without its fences."""
    if lines[start].startswith("```"):
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
        return lines[start + 1 : end]
    block = []
    for line in lines[start:]:
        if not line.startswith("    ") and line.strip():
            break
        block.append(line[4:])
    return [line for line in block if line.strip()]


def _commands(code: list[str]) -> list[Command]:
    """Commands of a block: '\\' joins lines; a comment line after a command is text to expect."""
    found: list[Command] = []
    pending = ""
    for raw in code:
        line = raw.rstrip()
        if not pending and line.lstrip().startswith("#"):
            if not found:
                raise ValueError(f"a comment before any command: {line!r}")
            found[-1].expect.append(line.lstrip()[1:].strip())
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        found.append(Command(" ".join((pending + line).split())))
        pending = ""
    return found


def blocks(paths: list[Path] | None = None) -> list[Block]:
    """Every marked block of the runbooks, in file order."""
    found = []
    for path in paths or sorted(RUNBOOKS.glob("*.md")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            marker = MARKER.match(line.strip())
            if not marker:
                continue
            where = marker.group(1)
            if where not in WHERE:
                raise ValueError(f"{path.name}:{number + 1}: runs on {where!r}; one of {', '.join(WHERE)}")
            start = next(i for i in range(number + 1, len(lines)) if lines[i].strip())
            commands = _commands(_code_lines(lines, start))
            if not commands:
                raise ValueError(f"{path.name}:{number + 1}: the marker is not followed by a command block")
            found.append(Block(path.name, number + 1, where, commands))
    return found


def for_the_stand(command: str, values: dict[str, str]) -> str:
    """The command as the runbooks' header says to run it on the local stand."""
    text = command.replace("-i inventory.yml --ask-vault-pass", STAND_ARGS)
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    left = re.findall(r"<[A-Za-z_ ]+>", text)
    if left:
        raise ValueError(f"no stand value for {left} in {command!r}")
    # A trailing comment says where or what: not part of the command.
    return shlex.join(shlex.split(text, comments=True))


def run(only: str = "", say: Callable[[str], None] = print) -> bool:
    """Run the marked blocks (of the runbooks whose file name contains `only`) on the local stand."""
    stand = Stand()
    values = {
        "<server>": stand.barman_server,
        "<Barman address>": stand.address(stand.barman),
        "<backup_id>": "latest",
    }
    first_primary = stand.primary()
    try:
        for block in [b for b in blocks() if only in b.doc]:
            say(f"--- {block.doc}:{block.line} on {block.where}")
            for command in block.commands:
                text = for_the_stand(command.text, values)
                started = time.monotonic()
                if block.where == "the controller":
                    done = subprocess.run(
                        text, shell=True, cwd=st.ROOT, env=stand.env, capture_output=True, text=True,
                        check=False,
                    )  # fmt: skip
                else:
                    host = _host(stand, block.where)
                    done = podman("exec", stand.container(host), "sh", "-c", text, check=False)
                output = done.stdout + done.stderr
                missing = [e for e in command.expect if e not in output]
                passed = (done.returncode == 0 or bool(command.expect)) and not missing
                say(f"    {'ok    ' if passed else 'FAILED'} {time.monotonic() - started:5.1f} s  {text}")
                if not passed:
                    say(f"    rc={done.returncode}, missing {missing}; last lines:")
                    for line in output.strip().splitlines()[-15:]:
                        say(f"      {line}")
                    return False
        return True
    finally:
        if stand.primary() != first_primary:
            say(f"--- switching back to {first_primary}")
            back = stand.playbook("switchover.yml", "runbooks-back", "-e", f"promote_to={first_primary}")
            say(f"    switchover back: rc={back.rc}")


def _host(stand: Stand, where: str) -> str:
    if where == "the Barman host":
        return stand.barman
    if where == "the primary":
        return stand.primary()
    return next(h for h, state in stand.states().items() if state == "standby")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.runbooks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="runbooks whose file name contains this")
    args = parser.parse_args(argv)
    return 0 if run(args.only) else 1


if __name__ == "__main__":
    raise SystemExit(main())
