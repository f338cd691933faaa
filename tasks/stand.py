"""The local stand: bring it up, check it, and run the collection's playbooks and drills on it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from tasks._exit import known_host, playbook, prerequisites
from tools import bad_inputs as bad_inputs_rows
from tools import faults as faults_drill
from tools import localhosts as lh
from tools import runbooks as runbook_blocks
from tools import stand as st


def _stand_ready() -> None:
    if not lh.is_root():
        raise Exit("The local stand runs rootful podman hosts with systemd: run this as root.", code=2)
    with prerequisites():
        lh.ensure_machine()


def _stand_up() -> None:
    """The machine is ready and every host of the stand runs."""
    _stand_ready()
    if not {st.container(h) for h in st.hosts()} <= st.running_hosts():
        raise Exit("the stand is not up: run `nox -s converge` (or invoke stand.up) first", code=2)


@task(help={"quiet": "do not stream the playbooks' output"})
def up(c: Context, quiet: bool = False) -> None:
    """Bring up the verified local stand (node1 primary, node2 standby, barman); idempotent."""
    _stand_ready()
    runs = st.up(stream=not quiet)
    for run in runs:
        print(run.summary())
    if failed := st.failure(runs, streamed=not quiet):
        raise Exit(failed, code=1)
    print(st.how_to_reach())


@task
def down(c: Context) -> None:
    """Remove the local stand's hosts and network (its generated passwords stay)."""
    with prerequisites():
        lh.require_podman()
    names, network = st.down()
    print(
        f"removed hosts: {names or 'none'}; network {st.STAND_NETWORK}: {'removed' if network else 'absent'}"
    )


@task
def status(c: Context) -> None:
    """Show the stand's hosts and run the otus.pgrepl.verify health report."""
    with prerequisites():
        lh.require_podman()
    c.run(f"podman ps -a --filter label={st.STAND_LABEL}")
    playbook("verify.yml", failed="the stand is not healthy")


@task(help={"host": "stand host (node1, node2)", "command": "SQL to run instead of an interactive psql"})
def psql(c: Context, host: str = "node1", command: str = "") -> None:
    """Open psql as postgres on a stand host (or run one SQL command)."""
    known_host(host)
    sql = f" -c {shlex.quote(command)}" if command else ""
    tty = "-it" if sys.stdin.isatty() and not command else "-i"
    c.run(f"podman exec {tty} {st.container(host)} runuser -u postgres -- psql{sql}", pty=not command)


@task(
    help={
        "server": "Barman server name (default: all of them)",
        "incremental": "incremental on top of the newest full backup (a full one when none can be)",
    }
)
def backup(c: Context, server: str = "", incremental: bool = False) -> None:
    """Take a base backup now and wait until it is DONE (otus.pgrepl.backup)."""
    extra = ["-e", f"barman_server={server}"] if server else []
    if incremental:
        extra += ["-e", "backup_incremental=true"]
    playbook("backup.yml", *extra, failed="the backup did not reach DONE")


@task(
    help={
        "time": "recovery target time with a UTC offset, e.g. '2026-11-25 18:00:00+00'",
        "lsn": "recovery target LSN, e.g. 0/3000028",
        "xid": "recovery target transaction id",
        "name": "recovery target restore point",
        "immediate": "stop as soon as the backup is consistent",
        "action": "promote (default), pause or shutdown at the target",
        "backup": "backup id, or auto (default), latest, oldest",
        "force": "replace the cluster on the host (it is renamed aside, not deleted)",
        "host": "inventory host to restore to (default: scratch); barman restores into a directory there",
    }
)
def restore(  # noqa: PLR0913, PLR0917 -- invoke maps each option to a parameter
    c: Context,
    time: str = "",
    lsn: str = "",
    xid: str = "",
    name: str = "",
    immediate: bool = False,
    action: str = "promote",
    backup: str = "auto",
    force: bool = False,
    host: str = "",
) -> None:
    """Restore a Barman backup onto the scratch host, optionally to a point in time (otus.pgrepl.restore)."""
    known_host(host)
    with prerequisites():
        extra = st.restore_args(
            {"time": time, "lsn": lsn, "xid": xid, "name": name},
            immediate=immediate,
            action=action,
            backup_id=backup,
            force=force,
            host=host,
        )
    playbook("restore.yml", *extra, failed="the restore failed or was refused")


@task(
    help={
        "target": "time (default) or lsn: the kind of recovery target the drill uses",
        "backup": "full (default) or incremental: the backup the drill takes and restores",
    }
)
def drill(c: Context, target: str = "time", backup: str = "full") -> None:
    """Restore drill: backup, marker rows, PITR onto scratch, row-exact check, RTO (otus.pgrepl.drill)."""
    if target not in ("time", "lsn"):
        raise Exit(f"--target must be time or lsn (got {target!r})", code=2)
    if backup not in ("full", "incremental"):
        raise Exit(f"--backup must be full or incremental (got {backup!r})", code=2)
    settings = ["-e", f"restore_drill_target={target}", "-e", f"restore_drill_backup={backup}"]
    playbook("drill.yml", *settings, failed="the restore drill failed")


@task(help={"to": "standby to make the primary, e.g. node2"})
def switchover(c: Context, to: str = "") -> None:
    """Planned switchover to a standby; the rest follow, Barman re-points (otus.pgrepl.switchover)."""
    if not to:
        raise Exit("name the standby to promote: invoke stand.switchover --to node2", code=2)
    known_host(to)
    playbook("switchover.yml", "-e", f"promote_to={to}", failed="the switchover failed or was refused")


@task(help={"to": "standby to promote (default: the one that received the most WAL)"})
def failover(c: Context, to: str = "") -> None:
    """Promote a standby when the primary is gone and fence the old one (otus.pgrepl.failover)."""
    known_host(to)
    extra = ["-e", f"promote_to={to}"] if to else []
    playbook("failover.yml", *extra, failed="the failover failed or was refused")


@task
def rejoin(c: Context) -> None:
    """Every host but the primary streams from it again (pg_rewind); Barman follows (otus.pgrepl.rejoin)."""
    playbook("rejoin.yml", failed="the rejoin failed")


@task(
    help={
        "only": f"fault letters to run, in order (default: {faults_drill.FAULTS}; restarts under writes: "
        f"{faults_drill.RESTARTS})",
        "no_results": "do not write bench/results/faults.* (restart.* for the restart rows)",
    }
)
def faults(c: Context, only: str = faults_drill.FAULTS, no_results: bool = False) -> None:
    """Fault drill under writes: switchover, standby stop, receive-wal kill, failovers, a cut-off primary."""
    _stand_up()
    try:
        outcomes = faults_drill.run(only, write_results=not no_results)
    except (ValueError, faults_drill.DrillError) as exc:
        raise Exit(str(exc), code=2) from exc
    if not all(o.passed for o in outcomes):
        raise Exit("the fault drill failed: see the table and tmp/faults/*.log", code=1)


@task(help={"only": "row numbers of docs/bad-inputs.md 'On running hosts', comma-separated (default: all)"})
def bad_inputs(c: Context, only: str = "") -> None:
    """Run the bad-input rows that need running hosts: each must be refused with changed=0 everywhere."""
    _stand_up()
    try:
        numbers = {int(n) for n in only.split(",") if n.strip()}
        results = bad_inputs_rows.run(only=numbers)
    except ValueError as exc:
        raise Exit(str(exc), code=2) from exc
    if not all(r.passed for r in results):
        raise Exit("a bad input was not refused as docs/bad-inputs.md says: see above", code=1)


@task(help={"only": "runbooks whose file name contains this (default: every runbook)"})
def runbooks(c: Context, only: str = "") -> None:
    """Run the runbooks' marked command blocks on the stand, as their header says (tools/runbooks.py)."""
    _stand_up()
    try:
        passed = runbook_blocks.run(only)
    except ValueError as exc:
        raise Exit(str(exc), code=2) from exc
    if not passed:
        raise Exit("a runbook command failed as written: see above", code=1)


@task
def secrets(c: Context) -> None:
    """Generate the stand's passwords into stand/.secrets.yml (0600) unless they exist."""
    path = st.ensure_secrets()
    print(f"{path.relative_to(st.ROOT)}: passwords ready (not printed)")


@task(
    help={
        "name": "directory name of the new stand",
        "primary": "NAME=ADDRESS of the primary (required)",
        "standbys": "comma-separated NAME=ADDRESS of the standbys (required)",
        "barman": "NAME=ADDRESS of the Barman host (required)",
        "restore": "NAME=ADDRESS of a host restores and drills go to and may overwrite (optional)",
        "version": "PostgreSQL major version",
        "user": "SSH user Ansible logs in as",
        "output_dir": "where to create the directory",
    }
)
def new(  # noqa: PLR0917 -- invoke maps each option to a parameter
    c: Context,
    name: str = "pgrepl-stand",
    primary: str = "",
    standbys: str = "",
    barman: str = "",
    restore: str = "",
    version: int = 17,
    user: str = "debian",
    output_dir: str = ".",
) -> None:
    """Generate a directory for your own hosts: inventory, vault placeholders, playbook, requirements."""
    try:
        target = st.new_stand(
            name,
            primary=primary,
            standbys=standbys,
            barman=barman,
            restore=restore,
            version=version,
            user=user,
            output_dir=Path(output_dir),
        )
    except ValueError as exc:
        raise Exit(
            f"{exc}. For example: invoke stand.new --name mine --primary db1=10.0.0.11"
            " --standbys db2=10.0.0.12 --barman backup1=10.0.0.21 --restore scratch1=10.0.0.31",
            code=2,
        ) from exc
    print(f"created {target}; next: edit group_vars/all/vault.yml, see its README.md")
