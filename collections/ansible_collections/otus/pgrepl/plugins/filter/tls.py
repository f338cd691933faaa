# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters that read the stand's TLS files on the controller; documented in tls_pair_current.yml,
private_dirs.yml and ca_certificate_info.yml."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - community.crypto needs it on the controller as well
    x509 = None

# What the role's CSR asks for besides the names (roles/postgresql_tls/tasks/issue.yml).
_EKU = {"serverAuth", "clientAuth"}
# Key usages it does not ask for (digitalSignature only).
_OTHER_USAGES = (
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _mode(path, kind=stat.S_ISREG):
    """The permission bits of `path` when it is of `kind` (a link is not followed: None), else None."""
    info = os.lstat(path)
    return stat.S_IMODE(info.st_mode) if kind(info.st_mode) else None


def _san(name):
    kind, value = name.split(":", 1)
    if kind == "DNS":
        return x509.DNSName(value)
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    raise ValueError(name)


def _eku_names(eku):
    names = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}
    return {names.get(oid, oid.dotted_string) for oid in eku}


def _authority_key_id(ca):
    try:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())


def _extensions_fit(cert, common_name, sans, ca):
    if cert.subject != x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]):
        return False
    found = {type(e.value): e for e in cert.extensions}
    want = {x509.SubjectAlternativeName, x509.ExtendedKeyUsage, x509.KeyUsage}
    want |= {x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier}
    if set(found) != want or len(found) != len(cert.extensions):
        return False
    usage = found[x509.KeyUsage]
    return (
        set(found[x509.SubjectAlternativeName].value) == {_san(s) for s in sans}
        and _eku_names(found[x509.ExtendedKeyUsage].value) == _EKU
        and usage.critical
        and usage.value.digital_signature
        and not any(getattr(usage.value, flag) for flag in _OTHER_USAGES)
        and found[x509.SubjectKeyIdentifier].value
        == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
        and found[x509.AuthorityKeyIdentifier].value == _authority_key_id(ca)
    )


def tls_pair_current(cert_path, key_path, ca_path, common_name, sans, renew_days):  # noqa: PLR0913, PLR0917 - a filter's arguments
    """Whether the role's issue tasks would leave this host's pair as it is.

    True only when every one of these holds: the key is an unencrypted P-256 key with mode 0600;
    the certificate (mode 0644) is for that key, names exactly `common_name` and `sans`, carries
    the role's usages, is signed by the CA at `ca_path` (issuer name and signature), and stays
    valid for more than `renew_days` days. Anything else, or anything unreadable, is False: the
    tasks then run and decide as always.
    """
    if x509 is None:
        raise AnsibleFilterError(
            "otus.pgrepl.tls_pair_current needs the cryptography library on the controller"
        )
    try:
        if _mode(key_path) != 0o600 or _mode(cert_path) != 0o644:
            return False
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
        with open(cert_path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
        with open(ca_path, "rb") as handle:
            ca = x509.load_pem_x509_certificate(handle.read())
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            return False
        raw = serialization.PublicFormat.SubjectPublicKeyInfo
        pem = serialization.Encoding.PEM
        if key.public_key().public_bytes(pem, raw) != cert.public_key().public_bytes(pem, raw):
            return False
        if cert.issuer != ca.subject:
            return False
        cert.verify_directly_issued_by(ca)
        now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - the controller may run Python 3.10
        if cert.not_valid_after_utc <= now + datetime.timedelta(days=int(renew_days)):
            return False
        return _extensions_fit(cert, common_name, list(sans), ca)
    except Exception:  # noqa: BLE001 - unreadable, another signer, an odd field: the modules look
        return False


def private_dirs(paths):
    """Whether every path is a directory (not a link) with mode 0700 on the controller."""
    try:
        return all(_mode(p, stat.S_ISDIR) == 0o700 for p in paths)
    except OSError:
        return False


def ca_certificate_info(path, valid_days):
    """A CA certificate's end, whether it has ended or ends within `valid_days`, and its basicConstraints.

    The fields the preflight reads, named as community.crypto.x509_certificate_info returns them;
    read in the controller's own process instead of a module run.
    """
    if x509 is None:
        raise AnsibleFilterError(
            "otus.pgrepl.ca_certificate_info needs the cryptography library on the controller"
        )
    try:
        with open(path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError) as exc:
        raise AnsibleFilterError(f"cannot read the CA certificate {path}: {exc}") from exc
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - the controller may run Python 3.10
    end = cert.not_valid_after_utc
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        basic = [f"CA:{'TRUE' if constraints.ca else 'FALSE'}"]
        if constraints.path_length is not None:
            basic.append(f"pathlen:{constraints.path_length}")
    except x509.ExtensionNotFound:
        basic = []
    return {
        "not_after": end.strftime("%Y%m%d%H%M%SZ"),
        "expired": end <= now,
        "basic_constraints": basic,
        "valid_at": {
            "hosts_lifetime": cert.not_valid_before_utc
            <= now + datetime.timedelta(days=int(valid_days))
            < end
        },
    }


class FilterModule:
    def filters(self):
        return {
            "tls_pair_current": tls_pair_current,
            "private_dirs": private_dirs,
            "ca_certificate_info": ca_certificate_info,
        }
