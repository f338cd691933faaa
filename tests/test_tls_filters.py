"""otus.pgrepl.tls_pair_current and private_dirs: True only for what the issue tasks would leave alone.

The pairs are made here with `cryptography` the way community.crypto's ownca provider makes them
(the role's CSR: CN, SANs, serverAuth/clientAuth, digitalSignature critical; SKI and AKI added).
That the filter says True for pairs the modules made is seen on every site rerun: the issue tasks
are skipped (molecule's idempotence step, `invoke stand.up`).
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(
    0, str(ROOT / "collections" / "ansible_collections" / "otus" / "pgrepl" / "plugins" / "filter")
)

import tls  # noqa: E402

SANS = ["DNS:node1", "IP:10.0.0.11"]
NOW = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ca(name: str = "otus.pgrepl CA", days: int = 3650, ca: bool | None = True):
    """A self-signed certificate; `ca` None leaves basicConstraints out."""
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=10))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True
        )
    return key, builder.sign(key, hashes.SHA256())


def _usage(**flags) -> x509.KeyUsage:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment"]
    names += ["key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{n: flags.get(n, n == "digital_signature") for n in names})


def _pair(ca, *, days=400, sans=SANS, cn="node1", key=None, usage=None, eku=None, extra=None):  # noqa: PLR0913
    ca_key, ca_cert = ca
    key = key or ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.DNSName(s[4:]) if s.startswith("DNS:") else x509.IPAddress(ipaddress.ip_address(s[3:]))
        for s in sans
    ]
    eku = eku or [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(usage or _usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(tls._authority_key_id(ca_cert), critical=False)
    )
    if extra is not None:
        builder = builder.add_extension(extra, critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(tmp_path: Path, ca, pair) -> tuple[str, str, str]:
    paths = tmp_path / "ca.crt", tmp_path / "node1.crt", tmp_path / "node1.key"
    paths[0].write_bytes(ca[1].public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(pair[1].public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(pair[0]))
    paths[0].chmod(0o644)
    paths[1].chmod(0o644)
    paths[2].chmod(0o600)
    return str(paths[1]), str(paths[2]), str(paths[0])


def _current(paths, sans=SANS, renew=30, cn="node1") -> bool:
    cert, key, ca = paths
    return tls.tls_pair_current(cert, key, ca, cn, sans, renew)


def test_a_pair_as_the_role_makes_it_is_current(tmp_path):
    ca = _ca()
    assert _current(_write(tmp_path, ca, _pair(ca)))


@pytest.mark.parametrize(
    "change",
    ["renew", "sans asked", "cn asked", "another ca", "same name other ca", "key of another", "p384 key",
     "usage", "eku", "extra extension", "key mode", "cert mode", "missing key", "garbage cert"],
)  # fmt: skip
def test_anything_the_modules_would_change_is_not_current(tmp_path, change):
    ca = _ca()
    pair = _pair(ca)
    sans, renew, cn = SANS, 30, "node1"
    if change == "renew":
        renew = 401
    elif change == "sans asked":
        sans = ["DNS:node1", "IP:10.0.0.12"]
    elif change == "cn asked":
        cn = "node2"
    elif change == "another ca":
        pair = _pair(_ca("another CA"))
    elif change == "same name other ca":
        pair = _pair(_ca())
    elif change == "key of another":
        pair = (ec.generate_private_key(ec.SECP256R1()), pair[1])
    elif change == "p384 key":
        pair = _pair(ca, key=ec.generate_private_key(ec.SECP384R1()))
    elif change == "usage":
        pair = _pair(ca, usage=_usage(key_encipherment=True))
    elif change == "eku":
        pair = _pair(ca, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    elif change == "extra extension":
        pair = _pair(ca, extra=x509.BasicConstraints(ca=False, path_length=None))
    paths = _write(tmp_path, ca, pair)
    if change == "key mode":
        Path(paths[1]).chmod(0o640)
    elif change == "cert mode":
        Path(paths[0]).chmod(0o600)
    elif change == "missing key":
        Path(paths[1]).unlink()
    elif change == "garbage cert":
        Path(paths[0]).write_text("not a certificate\n")
    assert not _current(paths, sans, renew, cn)


def test_private_dirs(tmp_path):
    inner = tmp_path / "hosts"
    inner.mkdir(mode=0o700)
    tmp_path.chmod(0o700)
    assert tls.private_dirs([str(tmp_path), str(inner)])
    inner.chmod(0o750)
    assert not tls.private_dirs([str(tmp_path), str(inner)])
    assert not tls.private_dirs([str(tmp_path / "missing")])
    (tmp_path / "link").symlink_to(tmp_path)
    assert not tls.private_dirs([str(tmp_path / "link")])


def _cert_file(tmp_path: Path, *, days: int, ca: bool | None) -> str:
    path = tmp_path / f"cert-{days}-{ca}.crt"
    path.write_bytes(_ca(days=days, ca=ca)[1].public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_ca_certificate_info_reads_what_the_preflight_checks(tmp_path):
    good = tls.ca_certificate_info(_cert_file(tmp_path, days=3650, ca=True), 365)
    assert (
        good["basic_constraints"] == ["CA:TRUE", "pathlen:0"]
        and not good["expired"]
        and good["valid_at"]["hosts_lifetime"]
    )
    end = NOW + datetime.timedelta(days=3650)
    assert good["not_after"][:8] == end.strftime("%Y%m%d") and good["not_after"].endswith("Z")
    # Ends before certificates issued now would: a warning; ended: a refusal.
    assert not tls.ca_certificate_info(_cert_file(tmp_path, days=100, ca=True), 365)["valid_at"][
        "hosts_lifetime"
    ]
    assert tls.ca_certificate_info(_cert_file(tmp_path, days=-1, ca=True), 365)["expired"]
    assert tls.ca_certificate_info(_cert_file(tmp_path, days=3650, ca=False), 365)["basic_constraints"] == [
        "CA:FALSE"
    ]
    assert tls.ca_certificate_info(_cert_file(tmp_path, days=3650, ca=None), 365)["basic_constraints"] == []


def test_ca_certificate_info_names_a_file_it_cannot_read(tmp_path):
    garbage = tmp_path / "ca.crt"
    garbage.write_text("not a certificate\n")
    for path in (garbage, tmp_path / "missing.crt"):
        with pytest.raises(tls.AnsibleFilterError, match=f"cannot read the CA certificate {path}"):
            tls.ca_certificate_info(str(path), 365)
