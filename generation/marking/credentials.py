"""C2PA content credentials on delivered MP4s: who generated it, that it is AI-generated, and the
opaque serial (never the tester's name), signed with the deployment's certificate.

A manifest survives only as long as the file is not remuxed or re-encoded: it is the honest
label on the file we deliver; the invisible mark is what survives a leak.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

AI_GENERATED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SERIAL_LABEL = "org.vernissage.serial"


@dataclass(frozen=True)
class SigningIdentity:
    cert_chain: bytes  # PEM: the signing certificate, then its issuers
    private_key: bytes  # PEM, PKCS#8

    @classmethod
    def from_files(cls, cert_path: Path, key_path: Path) -> SigningIdentity:
        return cls(cert_path.read_bytes(), key_path.read_bytes())

    def certificate_serial(self) -> str:
        return str(x509.load_pem_x509_certificates(self.cert_chain)[0].serial_number)


def sign_mp4(
    source: Path, target: Path, *, identity: SigningIdentity, serial: int, generator: str
) -> None:
    """Write `source` with a signed manifest to `target` (a different path)."""
    manifest = {
        "claim_generator_info": [{"name": generator}],
        "title": f"Vernissage output {serial:#x}",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [{"action": "c2pa.created", "digitalSourceType": AI_GENERATED}]
                },
            },
            {"label": SERIAL_LABEL, "data": {"serial": f"{serial:#x}"}},
        ],
    }
    info = c2pa.C2paSignerInfo(
        alg=b"es256", sign_cert=identity.cert_chain, private_key=identity.private_key, ta_url=None
    )
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign_file(str(source), str(target), signer)


def read_credentials(path: Path, *, our_certificate_serial: str | None = None) -> dict[str, Any]:
    """What a file's C2PA manifest says, if it has one: validity, generator, serial, signer."""
    try:
        with c2pa.Reader(str(path)) as reader:
            state = reader.get_validation_state()
            store = json.loads(reader.json())
    except Exception as exc:  # c2pa raises its own errors for "no manifest" and unreadable files
        return {"present": False, "note": str(exc).strip()[:200]}
    active = store.get("manifests", {}).get(store.get("active_manifest"), {})
    assertions = {a.get("label"): a.get("data", {}) for a in active.get("assertions", [])}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get(
        "actions", []
    )
    signature = active.get("signature_info", {})
    serial = assertions.get(SERIAL_LABEL, {}).get("serial")
    return {
        "present": True,
        "state": state,
        "valid": str(state) in ("Valid", "Trusted"),
        "generator": [g.get("name") for g in active.get("claim_generator_info", [])],
        "ai_generated": any(a.get("digitalSourceType") == AI_GENERATED for a in actions),
        "serial": int(serial, 16) if isinstance(serial, str) else None,
        "signer": signature.get("common_name"),
        "issuer": signature.get("issuer"),
        "signed_by_this_deployment": our_certificate_serial is not None
        and signature.get("cert_serial_number") == our_certificate_serial,
    }


def make_development_ca(folder: Path) -> tuple[Path, Path]:
    """A development CA and a signing certificate it issued (ES256), made once in `folder`.
    Returns (certificate chain, private key) paths; an existing pair is kept."""
    chain_path, key_path = folder / "signer-chain.pem", folder / "signer-key.pem"
    if chain_path.exists() and key_path.exists():
        return chain_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Vernissage development CA")
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now, days=3650)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        _builder(_name("Vernissage development signer"), ca_name, key.public_key(), now, days=825)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    chain_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return chain_path, key_path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vernissage"),
        ]
    )


def _builder(subject, issuer, public_key, now, *, days: int) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
