"""Bad input stops in the preflight checks, with a message naming the variable.

The checks run against hosts reached with the local connection (local_compiled:
Ansible's, keeping the modules' compiled code, stand/plugins/connection); the role
under test only asserts and sets facts, so nothing on this machine changes.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import run_playbook
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tools.bad_inputs import NOT_A_CHECK

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = ROOT / "tests" / "preflight" / "check.yml"
GOOD_PASSWORD = "unit-test-only"


def inventory(primaries, standbys, **group_vars):
    def host(i: int) -> dict:
        return {
            "ansible_connection": "local_compiled",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            # One address per host, as on real hosts.
            "postgresql_host_address": f"127.0.0.{11 + i}",
        }

    names = list(primaries) + list(standbys)
    children = {
        "postgresql_primary": {"hosts": {h: host(names.index(h)) for h in primaries}},
        "postgresql_standby": {"hosts": {h: host(names.index(h)) for h in standbys}},
    }
    if group_vars.pop("groups_barman", False):
        children["barman"] = {"hosts": {"barman": host(len(names))}}
        group_vars.setdefault("postgresql_barman_password", GOOD_PASSWORD)
        group_vars.setdefault("postgresql_barman_streaming_password", GOOD_PASSWORD)
    return {
        "all": {
            "vars": {"postgresql_replication_password": GOOD_PASSWORD, **group_vars},
            "children": children,
        }
    }


def run_checks(tmp_path: Path, inv: dict, host_vars: dict | None = None) -> subprocess.CompletedProcess[str]:
    inv_file = tmp_path / "inventory.yml"
    if host_vars:
        for group in inv["all"]["children"].values():
            for host, extra in host_vars.items():
                if host in group["hosts"]:
                    group["hosts"][host].update(extra)
    inv_file.write_text(yaml.safe_dump(inv))
    return run_playbook("-i", str(inv_file), str(PLAYBOOK))


def test_a_good_inventory_passes(tmp_path):
    result = run_checks(tmp_path, inventory(["node1"], ["node2", "node3"]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_good_inventory_with_barman_and_extra_lines_passes(tmp_path):
    line = {
        "type": "hostssl",
        "database": "postgres",
        "user": "app",
        "address": "samenet",
        "method": "scram-sha-256",
    }
    inv = inventory(["node1"], ["node2"], groups_barman=True, postgresql_config_hba_extra=[line])
    result = run_checks(tmp_path, inv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Barman's checks" in result.stdout


def test_trust_from_every_address_passes_only_behind_the_loud_opt_in(tmp_path):
    line = {"type": "hostssl", "database": "all", "user": "all", "address": "0.0.0.0/0", "method": "trust"}
    inv = inventory(
        ["node1"],
        ["node2"],
        postgresql_config_hba_extra=[line],
        postgresql_config_hba_allow_trust_and_any_address_unsafe=True,
    )
    result = run_checks(tmp_path, inv)
    assert result.returncode == 0, result.stdout + result.stderr
    said = "UNSAFE: postgresql_config_hba_allow_trust_and_any_address_unsafe=true lets through"
    assert f"{said} trust from 0.0.0.0/0" in result.stdout


TABLE = ROOT / "docs" / "bad-inputs.md"
_ROW = re.compile(r"^\| (\d+) \| `(.+)` \| (.+) \| (\w+) \|$")


def table_rows() -> list[tuple[int, dict, str, str]]:
    """The first table of docs/bad-inputs.md: number, input, message excerpt, what changed.

    Its section "On running hosts" needs hosts that already run: tools/bad_inputs.py runs those rows.
    """
    rows = []
    for line in TABLE.read_text().split("\n## On running hosts")[0].splitlines():
        m = _ROW.match(line)
        if m:
            rows.append((int(m.group(1)), yaml.safe_load(m.group(2)), m.group(3).strip(), m.group(4)))
    return rows


def test_the_table_is_long_and_numbered():
    numbers = [n for n, *_ in table_rows()]
    assert len(numbers) >= 30
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize(("number", "given", "expected", "changed"), table_rows(), ids=lambda v: str(v)[:40])
def test_bad_input_is_refused_as_the_table_says(tmp_path, number, given, expected, changed):
    group_vars = dict(given.get("vars", {}))
    if given.get("barman"):
        group_vars["groups_barman"] = True
    inv = inventory(given.get("primaries", ["node1"]), given.get("standbys", ["node2"]), **group_vars)
    result = run_checks(tmp_path, inv, given.get("host_vars"))
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"row {number} was accepted:\n{output}"
    assert not NOT_A_CHECK.search(output), f"row {number} stopped on an error, not a check:\n{output}"
    assert expected in " ".join(output.split()), f"row {number}: {expected!r} not in\n{output}"
    assert changed == "nothing"
    assert not re.search(r"changed=[1-9]", output), f"row {number} changed something"
    assert GOOD_PASSWORD not in output


# Certificates for the bring-your-own checks, made here with `cryptography`
# (the library community.crypto uses on the controller).
def _ca(tmp_path: Path, days: int = 30, name: str = "test CA", path_length: int | None = 0, signed_by=None):
    """A CA written as tmp_path/ca.crt and ca.key: self-signed, or an intermediate signed by `signed_by`."""
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signed_by[1].subject if signed_by else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .sign(signed_by[0] if signed_by else key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.crt").write_bytes(cert.public_bytes(pem))
    (tmp_path / "ca.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key, cert


def _host_cert(tmp_path: Path, ca, sans: list[str], name: str = "node2", days: int = 20) -> tuple[Path, Path]:
    ca_key, ca_cert = ca
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address(s)) if s[0].isdigit() else x509.DNSName(s) for s in sans]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=40))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    crt, pkey = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    crt.write_bytes(cert.public_bytes(pem))
    pkey.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return crt, pkey


def _own_ca(tmp_path: Path) -> dict:
    ca = {"postgresql_tls_ca_cert": tmp_path / "ca.crt", "postgresql_tls_ca_key": tmp_path / "ca.key"}
    return inventory(["node1"], ["node2"], **{k: str(v) for k, v in ca.items()})


def _own_pair(crt: Path, key: Path) -> dict:
    return {"node2": {"postgresql_tls_cert": str(crt), "postgresql_tls_key": str(key)}}


def _refused(result: subprocess.CompletedProcess[str], said: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert not NOT_A_CHECK.search(output), output
    assert said in " ".join(output.split()), output
    assert not re.search(r"changed=[1-9]", output)


def test_your_own_ca_and_certificates_pass(tmp_path):
    ca = _ca(tmp_path, days=3650)
    crt, key = _host_cert(tmp_path, ca, ["node2", "127.0.0.12"])
    result = run_checks(tmp_path, _own_ca(tmp_path), _own_pair(crt, key))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_certificate_whose_sans_miss_the_host_is_refused(tmp_path):
    ca = _ca(tmp_path, days=3650)
    crt, key = _host_cert(tmp_path, ca, ["node2", "127.0.0.99"])
    result = run_checks(tmp_path, _own_ca(tmp_path), _own_pair(crt, key))
    _refused(result, "miss IP:127.0.0.12, the address the peers connect to")


def test_a_certificate_with_another_key_is_refused(tmp_path):
    ca = _ca(tmp_path, days=3650)
    crt, _ = _host_cert(tmp_path, ca, ["node2", "127.0.0.12"])
    _, other = _host_cert(tmp_path, ca, ["node3", "127.0.0.13"], name="node3")
    result = run_checks(tmp_path, _own_ca(tmp_path), _own_pair(crt, other))
    _refused(result, "is not its key")


def test_a_certificate_signed_by_another_ca_of_the_same_name_is_refused(tmp_path):
    _ca(tmp_path, days=3650)
    other = tmp_path / "other"
    other.mkdir()
    crt, key = _host_cert(tmp_path, _ca(other, days=3650), ["node2", "127.0.0.12"])
    result = run_checks(tmp_path, _own_ca(tmp_path), _own_pair(crt, key))
    ca = tmp_path / "ca.crt"
    _refused(result, f"openssl verify refuses it against the CA {ca} (error 7 at 0 depth lookup")
    assert "certificate signature failure" in result.stdout


def test_an_intermediate_ca_needs_its_root_beside_it(tmp_path):
    # libpq trusts no partial chain: an intermediate alone as the CA file would fail every connection.
    (tmp_path / "root").mkdir()
    root = _ca(tmp_path / "root", days=3650, path_length=1)
    intermediate = _ca(tmp_path, days=3000, name="test intermediate CA", signed_by=root)
    crt, key = _host_cert(tmp_path, intermediate, ["node2", "127.0.0.12"])
    alone = run_checks(tmp_path, _own_ca(tmp_path), _own_pair(crt, key))
    _refused(alone, "openssl verify refuses it against the CA")
    assert "unable to get issuer certificate" in alone.stdout
    # The chain up to the root in the CA file passes.
    bundle = tmp_path / "ca.crt"
    bundle.write_bytes(bundle.read_bytes() + (tmp_path / "root" / "ca.crt").read_bytes())
    chained = run_checks(tmp_path, _own_ca(tmp_path), _own_pair(crt, key))
    assert chained.returncode == 0, chained.stdout + chained.stderr


def test_an_expired_host_certificate_is_refused(tmp_path):
    ca = _ca(tmp_path, days=3650)
    crt, key = _host_cert(tmp_path, ca, ["node2", "127.0.0.12"], days=-1)
    result = run_checks(tmp_path, _own_ca(tmp_path), _own_pair(crt, key))
    _refused(result, f"postgresql_tls_cert {crt} of node2 is refused, nothing was changed: it expired on")


def test_a_missing_host_pair_is_refused(tmp_path):
    _ca(tmp_path, days=3650)
    crt, key = tmp_path / "gone.crt", tmp_path / "gone.key"
    result = run_checks(tmp_path, _own_ca(tmp_path), _own_pair(crt, key))
    _refused(result, f"{crt}, {key} (given for node2) is missing or unreadable")


def test_an_expired_ca_is_refused(tmp_path):
    _ca(tmp_path, days=-1)
    _refused(run_checks(tmp_path, _own_ca(tmp_path)), f"The CA certificate {tmp_path / 'ca.crt'} expired on")


def test_half_a_made_ca_is_refused_not_made_again(tmp_path):
    # The default CA folder is beside the inventory (tmp_path): leave only its key there.
    (tmp_path / ".tls").mkdir()
    (tmp_path / ".tls" / "ca.key").write_text("a key without its certificate\n")
    _refused(run_checks(tmp_path, inventory(["node1"], ["node2"])), "Half a CA in")
    assert not (tmp_path / ".tls" / "ca.crt").exists()
