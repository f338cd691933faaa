"""Local systemd hosts on podman: the machine, the image and the hosts, for the invoke tasks and noxfile.py.

Everything here is plain Python so the unit tests can exercise it without
podman; the functions that touch the machine take a ``run`` callable.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Names and labels this project gives to what it creates in podman. Cleanup
# only ever touches objects carrying them.
PROJECT_LABEL = "io.otus.pgrepl.project=otus-pgrepl"
NETWORK_PREFIX = "otus-pgrepl-"
IMAGE = "localhost/otus-pgrepl/debian:trixie"
SUITE = "trixie"
CACHE_DIR = Path(os.environ.get("OTUS_PGREPL_CACHE", "/var/cache/otus-pgrepl"))
APT_CACHE = CACHE_DIR / "apt"

HOST_PACKAGES = (
    "podman",
    "runc",
    "debootstrap",
    "uidmap",
    "slirp4netns",
    "fuse-overlayfs",
    "netavark",
    "aardvark-dns",
    # netavark sets up the hosts' network with the iptables command.
    "iptables",
    # The ownhosts scenario reaches its hosts as users do: ssh and ssh-keyscan on the controller.
    "openssh-client",
)
# What the image carries beyond minbase: systemd as PID 1, Python for Ansible,
# python3-apt so the apt module does not have to bootstrap it in every host.
IMAGE_INCLUDE = (
    "systemd",
    "systemd-sysv",
    "python3",
    "python3-apt",
    "sudo",
    "iproute2",
    "ca-certificates",
)
# Everything the roles install with apt in a stand's hosts (postgresql_install,
# postgresql_config, barman, barman_restore; PostgreSQL 17, trixie's version).
# Downloaded once into the shared cache before any host installs, so hosts read
# it side by side instead of queueing for its lock (tests/test_localhosts.py
# keeps this list in step with the roles).
PREFILL_PACKAGES = (
    "postgresql-17",
    "postgresql-client-17",
    "python3-psycopg2",
    "acl",
    "barman",
    "barman-cli",
    "openssh-server",
    "openssh-client",
    "rsync",
)
PREFILL_STAMP = ".otus-prefilled"
# Container limits must not exceed the caller's hard limits: podman cannot
# raise them without CAP_SYS_RESOURCE ("setrlimit ... Operation not permitted").
NOFILE_CAP = 20000
NPROC_CAP = 4096
DEFAULT_MIRROR = "http://deb.debian.org/debian"
CONTAINERS_CONF = Path("/etc/containers/containers.conf")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class PrerequisiteError(RuntimeError):
    """Something the machine lacks; the message says what to run."""


@dataclass(frozen=True)
class Ulimits:
    nofile: int
    nproc: int

    def as_podman(self) -> list[str]:
        return [f"nofile={self.nofile}:{self.nofile}", f"nproc={self.nproc}:{self.nproc}"]

    def as_env(self) -> dict[str, str]:
        return {"OTUS_PGREPL_NOFILE": str(self.nofile), "OTUS_PGREPL_NPROC": str(self.nproc)}


def _cap(hard: int, cap: int) -> int:
    if hard == resource.RLIM_INFINITY or hard < 0:
        return cap
    return min(hard, cap)


def derive_ulimits(
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
) -> Ulimits:
    """Container ulimits at or below this process's hard limits."""
    return Ulimits(
        nofile=_cap(getrlimit(resource.RLIMIT_NOFILE)[1], NOFILE_CAP),
        nproc=_cap(getrlimit(resource.RLIMIT_NPROC)[1], NPROC_CAP),
    )


def run(argv: Sequence[str], check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, text=True, capture_output=True)


def is_root() -> bool:
    return os.geteuid() == 0


def missing_commands(names: Sequence[str]) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


def require_podman() -> None:
    missing = missing_commands(["podman", "runc"])
    if missing:
        raise PrerequisiteError(
            f"{', '.join(missing)} not found. Prepare this machine first, as root: "
            "`invoke machine.prepare` (or `apt-get install " + " ".join(HOST_PACKAGES) + "`)."
        )
    if not is_root():
        raise PrerequisiteError(
            "The local hosts run as rootful podman containers with systemd; "
            "run this as root (for example `sudo -E env PATH=$PATH nox`)."
        )


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt already uses, so the image and its
    hosts fetch from a place known to be reachable."""
    candidates = sorted(sources_dir.glob("sources.list.d/*.sources"))
    candidates += [sources_dir / "sources.list"] + sorted(sources_dir.glob("sources.list.d/*.list"))
    for path in candidates:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for raw in text.splitlines():
            line = raw.strip()
            m = re.match(r"^URIs:\s*(\S+)", line)
            if m is None:
                m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
            if m and re.search(r"/debian/?$", m.group(1)):
                return m.group(1).rstrip("/")
    return DEFAULT_MIRROR


def containers_conf_with_runc(text: str) -> str:
    """containers.conf content whose [engine] section selects runc.

    crun refuses this kernel's hybrid cgroup layout, runc does not.
    """
    lines = text.splitlines()
    out: list[str] = []
    section = None
    engine_seen = False
    runtime_set = False
    for line in lines:
        stripped = line.strip()
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            if section == "engine" and not runtime_set:
                out.append('runtime = "runc"')
                runtime_set = True
            section = header.group(1).strip()
            engine_seen = engine_seen or section == "engine"
        elif section == "engine" and re.match(r"^runtime\s*=", stripped):
            out.append('runtime = "runc"')
            runtime_set = True
            continue
        out.append(line)
    if section == "engine" and not runtime_set:
        out.append('runtime = "runc"')
        runtime_set = True
    if not engine_seen:
        if out and out[-1].strip():
            out.append("")
        out += ["[engine]", 'runtime = "runc"']
    return "\n".join(out) + "\n"


def image_exists(runner: Runner = run) -> bool:
    return runner(["podman", "image", "exists", IMAGE]).returncode == 0


def stale_objects(runner: Runner = run) -> tuple[list[str], list[str]]:
    """This project's containers (by label) and networks (by name prefix)."""
    ps = runner(["podman", "ps", "-a", "--filter", f"label={PROJECT_LABEL}", "--format", "{{.Names}}"])
    nets = runner(["podman", "network", "ls", "--format", "{{.Name}}"])
    containers = [n for n in ps.stdout.split() if n]
    networks = [n for n in nets.stdout.split() if n.startswith(NETWORK_PREFIX)]
    return containers, networks


def remove_containers(names: list[str], runner: Runner = run) -> None:
    """Force-remove containers at once (systemd hosts need no stop timeout)."""
    if names:
        runner(["podman", "rm", "-f", "-t", "0", *names])


def clean(
    runner: Runner = run, *, hosts: Sequence[str] | None = None, network: str | None = None
) -> tuple[list[str], list[str]]:
    """Remove this project's containers and networks, nothing else.

    With `hosts` and `network` (one scenario's), only those: another scenario may run beside it.
    """
    containers, networks = stale_objects(runner)
    if hosts is not None:
        containers = [c for c in containers if c in hosts]
        networks = [n for n in networks if n == network]
    remove_containers(containers, runner)
    for net in networks:
        runner(["podman", "network", "rm", "-f", net])
    return containers, networks


def molecule_env() -> dict[str, str]:
    """Environment for molecule runs: derived limits, the image, the apt cache."""
    env = derive_ulimits().as_env()
    env["OTUS_PGREPL_IMAGE"] = IMAGE
    env["OTUS_PGREPL_APT_CACHE"] = str(APT_CACHE)
    env["OTUS_PGREPL_LABEL"] = PROJECT_LABEL
    return env


APT_KEEP = 'Binary::apt::APT::Keep-Downloaded-Packages "true";\nAPT::Keep-Downloaded-Packages "true";\n'
APT_LEAN = 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'


def build_image(mirror: str, workdir: Path = CACHE_DIR / "image", runner: Runner = run) -> None:
    """debootstrap a trixie systemd rootfs and import it as IMAGE."""
    missing = missing_commands(["debootstrap", "podman", "tar"])
    if missing:
        raise PrerequisiteError(
            f"{', '.join(missing)} not found: run `invoke machine.prepare` as root first."
        )
    rootfs = workdir / "rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    workdir.mkdir(parents=True, exist_ok=True)
    result = runner(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(IMAGE_INCLUDE),
            SUITE,
            str(rootfs),
            mirror,
        ]
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise PrerequisiteError(f"debootstrap {SUITE} from {mirror} failed:\n{tail}")
    (rootfs / "etc/apt/sources.list").write_text(f"deb {mirror} {SUITE} main\n")
    conf = rootfs / "etc/apt/apt.conf.d"
    # The hosts share one archive folder with the machine (see molecule base
    # config), so packages downloaded once are reused by every later host.
    (conf / "90otus-keep-downloads").write_text(APT_KEEP)
    (conf / "90otus-lean").write_text(APT_LEAN)
    docker_clean = conf / "docker-clean"
    if docker_clean.exists():
        docker_clean.unlink()
    # An empty machine-id lets systemd make a fresh one in each host.
    (rootfs / "etc/machine-id").write_text("")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        [
            "podman",
            "import",
            "--change",
            "CMD=/sbin/init",
            # No project label on the image: every container made from it
            # would inherit it, and `hosts.clean` would remove a user's own
            # containers and the running stand. Scenario hosts get the label
            # when they are created (molecule extra_opts).
            "-",
            IMAGE,
        ],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    if tar.stdout is not None:
        tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise PrerequisiteError(f"podman import of {IMAGE} failed: {imported.stderr.strip()}")
    shutil.rmtree(rootfs)


def prefill_apt_cache(ulimits: Ulimits, runner: Runner = run) -> bool:
    """Download PREFILL_PACKAGES into APT_CACHE once, from a throwaway host of IMAGE.

    Hosts mount the cache as an overlay (`:O`): each reads what is here and
    keeps its own lock and downloads, so installs run side by side. Returns
    whether it downloaded (False when the stamp says the cache has the list).
    """
    stamp = APT_CACHE / PREFILL_STAMP
    wanted = "\n".join(PREFILL_PACKAGES) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return False
    (APT_CACHE / "partial").mkdir(parents=True, exist_ok=True)
    limits = [arg for limit in ulimits.as_podman() for arg in ("--ulimit", limit)]
    script = "apt-get update -qq && apt-get install -y -qq --download-only " + " ".join(PREFILL_PACKAGES)
    result = runner(
        [
            "podman",
            "run",
            "--rm",
            *limits,
            "-v",
            f"{APT_CACHE}:/var/cache/apt/archives",
            IMAGE,
            "sh",
            "-c",
            script,
        ]
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise PrerequisiteError(f"downloading the hosts' packages into {APT_CACHE} failed:\n{tail}")
    stamp.write_text(wanted)
    return True


def apt_missing(packages: Sequence[str], runner: Runner = run) -> list[str]:
    """The packages dpkg does not have installed."""
    return [
        pkg
        for pkg in packages
        if "install ok installed" not in runner(["dpkg-query", "-W", "-f=${Status}", pkg]).stdout
    ]


def prepare_machine(say: Callable[[str], None] = print, runner: Runner = run) -> None:
    """Install HOST_PACKAGES, make podman use runc, create the shared apt cache (root; idempotent)."""
    packages = " ".join(HOST_PACKAGES)
    if shutil.which("apt-get") is None:
        raise PrerequisiteError(
            "No apt-get here. Install these with your package manager, then set "
            f'`[engine] runtime = "runc"` in {CONTAINERS_CONF}: {packages}'
        )
    if not is_root():
        raise PrerequisiteError(
            f"Preparing the machine installs packages and edits {CONTAINERS_CONF}: run "
            f"`sudo invoke machine.prepare`, or as root: apt-get install -y {packages}"
        )
    missing = apt_missing(HOST_PACKAGES, runner)
    if missing:
        say(f"installing: {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        # With recommends: the set this recipe was proven with (catatonit,
        # containernetworking-plugins, nftables come that way). Output shown: it takes a while.
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
            if subprocess.run(argv, env=env, check=False).returncode != 0:
                raise PrerequisiteError(f"`{' '.join(argv)}` failed: see its output above")
    current = CONTAINERS_CONF.read_text() if CONTAINERS_CONF.exists() else ""
    wanted = containers_conf_with_runc(current)
    if wanted != current:
        CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
        CONTAINERS_CONF.write_text(wanted)
        say(f"{CONTAINERS_CONF}: runtime = runc")
    (APT_CACHE / "partial").mkdir(parents=True, exist_ok=True)
    say(f"machine ready; container ulimits {' '.join(derive_ulimits().as_podman())}")


def ensure_image(say: Callable[[str], None] = print, rebuild: bool = False, mirror: str = "") -> None:
    """Build IMAGE with debootstrap unless it exists (or `rebuild`)."""
    require_podman()
    if image_exists() and not rebuild:
        say(f"{IMAGE} exists (use `invoke image.build --rebuild` to build it again)")
        return
    source = mirror or apt_mirror()
    say(f"debootstrap {SUITE} from {source} ...")
    build_image(source)
    say(f"built {IMAGE}")


def ensure_machine(say: Callable[[str], None] = print) -> None:
    """Prepare the machine, build the image and fill the hosts' apt cache, only where something is missing."""
    if (
        missing_commands(["podman", "runc", "debootstrap"])
        or not CONTAINERS_CONF.exists()
        or not (APT_CACHE / "partial").is_dir()
    ):
        prepare_machine(say)
    ensure_image(say)
    if prefill_apt_cache(derive_ulimits()):
        say(f"downloaded the hosts' packages into {APT_CACHE}")
