"""invoke tasks for otus.pgrepl: prepare the machine, build the host image,
manage the local hosts. Each task is thin and delegates to the tools; run
`invoke --list` for the list and `invoke --help TASK` for a task's options."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tools import faults as faults_drill  # noqa: E402
from tools import localhosts as lh  # noqa: E402
from tools import stand as st  # noqa: E402


def _apt_missing(c: Context, packages: tuple[str, ...]) -> list[str]:
    missing = []
    for pkg in packages:
        res = c.run(f"dpkg-query -W -f='${{Status}}' {pkg}", hide=True, warn=True)
        if res is None or "install ok installed" not in res.stdout:
            missing.append(pkg)
    return missing


def _require_podman() -> None:
    """Exit with what to install or run when podman (or root) is missing."""
    try:
        lh.require_podman()
    except lh.PrerequisiteError as exc:
        raise Exit(str(exc), code=2) from exc


@task
def prepare(c: Context) -> None:
    """Install podman and friends, select runc, create the shared apt cache (root, idempotent)."""
    packages = " ".join(lh.HOST_PACKAGES)
    if shutil.which("apt-get") is None:
        raise Exit(
            "No apt-get here. Install these with your package manager, then set "
            f'`[engine] runtime = "runc"` in {lh.CONTAINERS_CONF}: {packages}',
            code=2,
        )
    if not lh.is_root():
        raise Exit(
            "Preparing the machine installs packages and edits "
            f"{lh.CONTAINERS_CONF}: run `sudo invoke machine.prepare`, or as root: "
            f"apt-get install -y {packages}",
            code=2,
        )
    missing = _apt_missing(c, lh.HOST_PACKAGES)
    if missing:
        print(f"installing: {' '.join(missing)}")
        c.run("apt-get update -qq", env={"DEBIAN_FRONTEND": "noninteractive"})
        # With recommends: the set this recipe was proven with (catatonit,
        # containernetworking-plugins, nftables come that way).
        c.run("apt-get install -y -qq " + " ".join(missing), env={"DEBIAN_FRONTEND": "noninteractive"})
    conf = lh.CONTAINERS_CONF
    current = conf.read_text() if conf.exists() else ""
    wanted = lh.containers_conf_with_runc(current)
    if wanted != current:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(wanted)
        print(f"{conf}: runtime = runc")
    (lh.APT_CACHE / "partial").mkdir(parents=True, exist_ok=True)
    limits = lh.derive_ulimits()
    print(f"machine ready; container ulimits {' '.join(limits.as_podman())}")


@task(help={"rebuild": "build again even when the image exists", "mirror": "Debian mirror URL"})
def build(c: Context, rebuild: bool = False, mirror: str = "") -> None:
    """Build the Debian trixie systemd host image with debootstrap (cached)."""
    _require_podman()
    if lh.image_exists() and not rebuild:
        print(f"{lh.IMAGE} exists (use --rebuild to build it again)")
        return
    source = mirror or lh.apt_mirror()
    print(f"debootstrap {lh.SUITE} from {source} ...")
    try:
        lh.build_image(source)
    except lh.PrerequisiteError as exc:
        raise Exit(str(exc), code=1) from exc
    print(f"built {lh.IMAGE}")


@task
def ensure(c: Context) -> None:
    """Prepare the machine, build the image and fill the hosts' apt cache, only where something is missing."""
    if (
        lh.missing_commands(["podman", "runc", "debootstrap"])
        or not lh.CONTAINERS_CONF.exists()
        or not (lh.APT_CACHE / "partial").is_dir()
    ):
        prepare(c)
    build(c)
    try:
        if lh.prefill_apt_cache(lh.derive_ulimits()):
            print(f"downloaded the hosts' packages into {lh.APT_CACHE}")
    except lh.PrerequisiteError as exc:
        raise Exit(str(exc), code=1) from exc


@task
def clean(c: Context) -> None:
    """Remove this project's stale hosts and networks (by label and name), nothing else."""
    _require_podman()
    containers, networks = lh.clean()
    print(f"removed hosts: {containers or 'none'}; networks: {networks or 'none'}")


@task(name="list")
def list_hosts(c: Context) -> None:
    """List this project's hosts and networks."""
    _require_podman()
    c.run(f"podman ps -a --filter label={lh.PROJECT_LABEL}")
    c.run(f"podman network ls --filter name=^{lh.NETWORK_PREFIX}")


@task(
    help={"scenario": "molecule scenario name (default: all of them)"},
)
def test(c: Context, scenario: str = "") -> None:
    """Run the test suite (`nox`), or one molecule scenario."""
    if scenario:
        c.run(f"nox -s 'molecule({scenario})'", pty=sys.stdout.isatty())
    else:
        c.run("nox", pty=sys.stdout.isatty())


def _stand_ready(c: Context) -> None:
    if not lh.is_root():
        raise Exit("The local stand runs rootful podman hosts with systemd: run this as root.", code=2)
    ensure(c)


@task(help={"quiet": "do not stream the playbooks' output"})
def up(c: Context, quiet: bool = False) -> None:
    """Bring up the verified local stand (node1 primary, node2 standby, barman); idempotent."""
    _stand_ready(c)
    runs = st.up(stream=not quiet)
    for run in runs:
        print(f"{Path(run.playbook).name}: rc={run.rc} changed={run.changed} in {run.seconds:.0f}s")
    if runs[-1].rc != 0:
        raise Exit(f"{Path(runs[-1].playbook).name} failed (rc={runs[-1].rc}); see the output above", code=1)
    print(st.how_to_reach())


@task
def down(c: Context) -> None:
    """Remove the local stand's hosts and network (its generated passwords stay)."""
    _require_podman()
    names, network = st.down()
    print(
        f"removed hosts: {names or 'none'}; network {st.STAND_NETWORK}: {'removed' if network else 'absent'}"
    )


@task
def status(c: Context) -> None:
    """Show the stand's hosts and run the otus.pgrepl.verify health report."""
    _require_podman()
    c.run(f"podman ps -a --filter label={st.STAND_LABEL}")
    run = st.run_playbook(st.PLAYBOOKS / "verify.yml")
    if run.rc != 0:
        raise Exit("the stand is not healthy: see the report above", code=1)


@task(help={"host": "stand host (node1, node2)", "command": "SQL to run instead of an interactive psql"})
def psql(c: Context, host: str = "node1", command: str = "") -> None:
    """Open psql as postgres on a stand host (or run one SQL command)."""
    if host not in st.hosts():
        raise Exit(f"no host {host!r} in the stand; hosts: {', '.join(st.hosts())}", code=2)
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
    run = st.run_playbook(st.PLAYBOOKS / "backup.yml", *extra)
    if run.rc != 0:
        raise Exit("the backup did not reach DONE: see the output above", code=1)


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
    if host and host not in st.hosts():
        raise Exit(f"no host {host!r} in the stand; hosts: {', '.join(st.hosts())}", code=2)
    try:
        extra = st.restore_args(
            {"time": time, "lsn": lsn, "xid": xid, "name": name},
            immediate=immediate,
            action=action,
            backup_id=backup,
            force=force,
            host=host,
        )
    except ValueError as exc:
        raise Exit(str(exc), code=2) from exc
    run = st.run_playbook(st.PLAYBOOKS / "restore.yml", *extra)
    if run.rc != 0:
        raise Exit("the restore failed or was refused: see the message above", code=1)


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
    run = st.run_playbook(st.PLAYBOOKS / "drill.yml", *settings)
    if run.rc != 0:
        raise Exit("the restore drill failed: see the report above", code=1)


def _replication_host(host: str) -> None:
    if host and host not in st.hosts():
        raise Exit(f"no host {host!r} in the stand; hosts: {', '.join(st.hosts())}", code=2)


@task(help={"to": "standby to make the primary, e.g. node2"})
def switchover(c: Context, to: str = "") -> None:
    """Planned switchover to a standby; the rest follow, Barman re-points (otus.pgrepl.switchover)."""
    if not to:
        raise Exit("name the standby to promote: invoke stand.switchover --to node2", code=2)
    _replication_host(to)
    run = st.run_playbook(st.PLAYBOOKS / "switchover.yml", "-e", f"promote_to={to}")
    if run.rc != 0:
        raise Exit("the switchover failed or was refused: see the message above", code=1)


@task(help={"to": "standby to promote (default: the one that received the most WAL)"})
def failover(c: Context, to: str = "") -> None:
    """Promote a standby when the primary is gone and fence the old one (otus.pgrepl.failover)."""
    _replication_host(to)
    extra = ["-e", f"promote_to={to}"] if to else []
    run = st.run_playbook(st.PLAYBOOKS / "failover.yml", *extra)
    if run.rc != 0:
        raise Exit("the failover failed or was refused: see the message above", code=1)


@task
def rejoin(c: Context) -> None:
    """Every host but the primary streams from it again (pg_rewind); Barman follows (otus.pgrepl.rejoin)."""
    run = st.run_playbook(st.PLAYBOOKS / "rejoin.yml")
    if run.rc != 0:
        raise Exit("the rejoin failed: see the message above", code=1)


@task(
    help={
        "only": f"fault letters to run, in order (default: {faults_drill.FAULTS})",
        "no_results": "do not write bench/results/faults.*",
    }
)
def faults(c: Context, only: str = faults_drill.FAULTS, no_results: bool = False) -> None:
    """Fault drill under writes: switchover, standby stop, receive-wal kill, failovers, a cut-off primary."""
    _stand_ready(c)
    if not {st.container(h) for h in st.hosts()} <= st.running_hosts():
        raise Exit("the stand is not up: run `nox -s converge` (or invoke stand.up) first", code=2)
    try:
        outcomes = faults_drill.run(only, write_results=not no_results)
    except (ValueError, faults_drill.DrillError) as exc:
        raise Exit(str(exc), code=2) from exc
    if not all(o.passed for o in outcomes):
        raise Exit("the fault drill failed: see the table and tmp/faults/*.log", code=1)


@task
def secrets(c: Context) -> None:
    """Generate the stand's passwords into stand/.secrets.yml (0600) unless they exist."""
    path = st.ensure_secrets()
    print(f"{path.relative_to(st.ROOT)}: passwords ready (not printed)")


@task(
    help={
        "name": "directory name of the new stand",
        "primary": "NAME=ADDRESS of the primary",
        "standbys": "comma-separated NAME=ADDRESS of the standbys",
        "barman": "NAME=ADDRESS of the Barman host",
        "version": "PostgreSQL major version",
        "user": "SSH user Ansible logs in as",
        "output_dir": "where to create the directory",
    }
)
def new(  # noqa: PLR0917 -- invoke maps each option to a parameter
    c: Context,
    name: str = "pgrepl-stand",
    primary: str = "node1=192.168.57.11",
    standbys: str = "node2=192.168.57.12",
    barman: str = "barman=192.168.57.13",
    version: int = 17,
    user: str = "debian",
    output_dir: str = ".",
) -> None:
    """Generate a ready directory for your own hosts (inventory, vault placeholders, playbook)."""
    try:
        target = st.new_stand(
            name,
            primary=primary,
            standbys=standbys,
            barman=barman,
            version=version,
            user=user,
            output_dir=Path(output_dir),
        )
    except ValueError as exc:
        raise Exit(str(exc), code=2) from exc
    print(f"created {target}; next: edit group_vars/all/vault.yml, see its README.md")


ns = Collection()
ns.add_collection(Collection("machine", prepare=prepare, ensure=ensure))
ns.add_collection(Collection("image", build=build))
ns.add_collection(Collection("hosts", clean=clean, list=list_hosts))
ns.add_collection(
    Collection(
        "stand",
        up=up,
        down=down,
        status=status,
        psql=psql,
        backup=backup,
        restore=restore,
        drill=drill,
        switchover=switchover,
        failover=failover,
        rejoin=rejoin,
        faults=faults,
        secrets=secrets,
        new=new,
    )
)
ns.add_task(test)
