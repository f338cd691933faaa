"""What every task shares: a missing prerequisite or bad input becomes an Exit, a failed playbook too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invoke.exceptions import Exit

from tools import localhosts as lh
from tools import stand as st


@contextmanager
def prerequisites(code: int = 2) -> Iterator[None]:
    """A PrerequisiteError or ValueError from tools/ -> Exit with its message (it says what to do)."""
    try:
        yield
    except (lh.PrerequisiteError, ValueError) as exc:
        raise Exit(str(exc), code=code) from exc


def known_host(host: str) -> None:
    """Exit unless `host` (when given) is a host of the stand's inventory."""
    if host and host not in st.hosts():
        raise Exit(f"no host {host!r} in the stand; hosts: {', '.join(st.hosts())}", code=2)


def playbook(name: str, *extra: str, failed: str) -> st.PlaybookRun:
    """Run a playbook of the collection on the stand; Exit with `failed` when it fails."""
    run = st.run_playbook(st.PLAYBOOKS / name, *extra)
    if run.rc != 0:
        raise Exit(f"{failed}: see the output above", code=1)
    return run
