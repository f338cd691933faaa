"""The fence check script fails closed: it starts a would-be primary only when no peer can be one.

The template is rendered as the role renders it; `runuser` and `psql` are
stand-ins that answer as a real peer would (text taken from psql 17).
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import jinja2
import pytest

from ansible_collections.otus.pgrepl.plugins.filter.pgnames import FilterModule

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = (
    ROOT / "collections/ansible_collections/otus/pgrepl/roles/postgresql_config/templates/fence-check.sh.j2"
)

PEERS = {"node2": "10.0.0.12", "node3": "10.0.0.13"}
# A port per host is supported: node3's server listens on 5433, and is asked there.
PORTS = {"node2": 5432, "node3": 5433}
ANSWERS = {
    "primary": (0, "f"),
    "standby": (0, "t"),
    "refused": (2, 'psql: error: connection to server at "{h}", port 5432 failed: Connection refused'),
    "timeout": (2, 'psql: error: connection to server at "{h}", port 5432 failed: timeout expired'),
    "no-route": (2, 'psql: error: connection to server at "{h}", port 5432 failed: No route to host'),
    "password": (
        2,
        'psql: error: connection to server at "{h}", port 5432 failed: FATAL:  password authentication failed'
        ' for user "replicator"',
    ),
    "pg_hba": (
        2,
        'psql: error: connection to server at "{h}", port 5432 failed: FATAL:  no pg_hba.conf entry for host'
        ' "10.0.0.99", user "replicator", database "postgres", no encryption',
    ),
    "tls": (
        2,
        'psql: error: connection to server at "{h}", port 5432 failed: SSL error: certificate verify failed',
    ),
    "no-tls": (
        2,
        'psql: error: connection to server at "{h}", port 5432 failed:'
        " server does not support SSL, but SSL was required",
    ),
    "starting": (
        2,
        'psql: error: connection to server at "{h}", port 5432 failed:'
        " FATAL:  the database system is starting up",
    ),
}


def _extract(name, mapping):
    return mapping[name]


def _render(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["extract"] = _extract
    env.filters["otus.pgrepl.port"] = FilterModule().filters()["port"]
    hostvars = {
        name: {"postgresql__address": address, "postgresql_port": PORTS[name]}
        for name, address in PEERS.items()
    }
    hostvars["node1"] = {"postgresql__address": "10.0.0.11"}
    text = env.from_string(TEMPLATE.read_text()).render(
        ansible_managed="test",
        inventory_hostname="node1",
        hostvars=hostvars,
        postgresql__replication_hosts=["node1", *PEERS],
        postgresql__fence_file=str(tmp_path / "FENCED"),
        postgresql__legacy_fence_file=str(tmp_path / "legacy-FENCED"),
        postgresql__data_dir=str(tmp_path / "data"),
        postgresql__bin_dir=str(tmp_path / "bin"),
        postgresql_port=5432,
        postgresql_replication_user="replicator",
        postgresql_config_fence_wait=2,
        postgresql__tls_conninfo="sslmode=verify-full sslrootcert=/etc/otus-pgrepl/tls/ca.crt",
    )
    script = tmp_path / "fence-check"
    script.write_text(text)
    script.chmod(0o755)
    (tmp_path / "data").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # runuser -u postgres -- CMD...: run CMD as is.
    _exe(bin_dir / "runuser", '#!/bin/sh\nshift 3\nexec "$@"\n')
    # psql ... "host=H port=P ...": a peer refuses a conninfo without verify-full as the stand's pg_hba
    # does; otherwise answer with $ANSWER_<last octet of H>_<P>, "rc|text" (nothing listens on another port).
    _exe(
        bin_dir / "psql",
        "#!/bin/sh\n"
        'case "$*" in *"sslmode=verify-full sslrootcert=/etc/otus-pgrepl/tls/ca.crt"*) ;;'
        ' *) echo "FATAL:  no pg_hba.conf entry for host, no encryption"; exit 2;; esac\n'
        'for a in "$@"; do case "$a" in host=*)'
        " h=${a#host=}; p=${h#* port=}; h=${h%% *}; p=${p%% *};; esac; done\n"
        'v=$(eval echo "\\"\\${ANSWER_${h##*.}_$p:-2|Connection refused}\\"")\n'
        'echo "${v#*|}" | sed "s/{h}/$h/"\n'
        'exit "${v%%|*}"\n',
    )
    return script


def _exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _check(
    tmp_path: Path, node2: str, node3: str, signal: str = "", **extra_env: str
) -> subprocess.CompletedProcess[str]:
    script = _render(tmp_path)
    if signal:
        (tmp_path / "data" / signal).write_text("")
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", **extra_env)
    for name, kind in (("node2", node2), ("node3", node3)):
        rc, text = ANSWERS[kind]
        env[f"ANSWER_{PEERS[name].rsplit('.', 1)[1]}_{PORTS[name]}"] = f"{rc}|{text}"
    return subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(
    ("node2", "node3"),
    [("standby", "standby"), ("refused", "standby"), ("refused", "refused")],
)
def test_starts_when_no_peer_can_be_a_primary(tmp_path, node2, node3):
    result = _check(tmp_path, node2, node3)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "FENCED").exists()


@pytest.mark.parametrize(
    ("node2", "node3", "reason"),
    [
        ("standby", "primary", "10.0.0.13 runs as the primary"),
        ("password", "standby", "10.0.0.12 answered but refused this host"),
        ("refused", "pg_hba", "no pg_hba.conf entry"),
        ("tls", "standby", "10.0.0.12 answered but refused this host"),
        ("standby", "no-tls", "10.0.0.13 answers without TLS"),
        ("starting", "standby", "10.0.0.12 did not finish starting or stopping"),
    ],
)
def test_any_doubt_fences_and_refuses(tmp_path, node2, node3, reason):
    result = _check(tmp_path, node2, node3)
    assert result.returncode == 1
    fence = (tmp_path / "FENCED").read_text()
    assert reason in fence
    assert "otus.pgrepl.rejoin" in result.stderr


@pytest.mark.parametrize(
    ("node2", "node3"), [("timeout", "standby"), ("standby", "no-route"), ("timeout", "refused")]
)
def test_a_peer_that_does_not_answer_is_doubt_and_refuses_without_a_fence(tmp_path, node2, node3):
    # A host cut off, or whose network is not up yet, cannot tell a dead peer from a primary it cannot reach.
    result = _check(tmp_path, node2, node3)
    assert result.returncode == 1
    assert "does not answer" in result.stderr and "Start it again once" in result.stderr
    assert not (tmp_path / "FENCED").exists()


def test_an_archive_recovery_asks_too(tmp_path):
    # recovery.signal ends in a promotion: it is no standby.
    result = _check(tmp_path, "standby", "primary", signal="recovery.signal")
    assert result.returncode == 1
    assert "10.0.0.13 runs as the primary" in (tmp_path / "FENCED").read_text()


def test_a_fenced_host_stays_fenced(tmp_path):
    (tmp_path / "FENCED").write_text("10.0.0.12 runs as the primary\n")
    result = _check(tmp_path, "standby", "standby")
    assert result.returncode == 1
    assert "fenced: 10.0.0.12 runs as the primary" in result.stderr


def test_a_fence_an_older_version_wrote_still_holds(tmp_path):
    # Before the fence moved to root's folder it lay in the configuration directory.
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "legacy-FENCED").write_text("node2 was promoted by otus.pgrepl.failover\n")
    result = _check(tmp_path, "standby", "standby")
    assert result.returncode == 1
    assert "fenced: node2 was promoted" in result.stderr


def test_a_standby_starts_without_asking(tmp_path):
    _render(tmp_path)
    (tmp_path / "data" / "standby.signal").write_text("")
    script = tmp_path / "fence-check"
    result = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0


def test_the_operator_override_starts_this_host_only(tmp_path):
    assert _check(tmp_path / "a", "password", "standby", OTUS_FENCE_OVERRIDE="node1").returncode == 0
    assert _check(tmp_path / "b", "password", "standby", OTUS_FENCE_OVERRIDE="node2").returncode == 1
