"""Secret keys kept outside the database: token signing, pseudonyms, audit seals.

Each key lives in its own file (mode 0600) whose path comes from settings, so that a deployment
can mount them from a secrets store. On the embedded platform missing keys are generated on first
start (`auto_generate_keys`); in production set that off and run `safecity keys init` once, then
back the files up: losing the pseudonym key makes the lake's personal columns unjoinable with the
registry, and losing the audit key means new seals cannot be signed (old ones still verify with
the public key). See docs/keys.md for generation, rotation and backup.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from safecity.core.filemode import PRIVATE_FILE, private_dir


class KeyError_(Exception):  # noqa: N801 - "KeyError" is a builtin with another meaning
    """A key file is missing or unreadable; the message says which and what to do."""


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL: a key file is never overwritten in place (replacing one is `save_pseudonym_keys`).
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make a new or renamed file's directory entry durable (a key lost in a crash is data lost)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _missing(path: Path, what: str) -> KeyError_:
    return KeyError_(
        f"{what} key file {path} does not exist; run `safecity keys init` "
        "(or set SAFECITY_AUTO_GENERATE_KEYS=true on a development machine)"
    )


def refuse_keys_inside(data_dir: Path, key_files: dict[str, Path]) -> None:
    """Production keeps the keys apart from the data they protect (docs/keys.md): refuse, naming
    the file and the setting, when one lies inside the data folder. `key_files` maps each key's
    setting to its file."""
    data = data_dir.resolve()
    for setting, path in key_files.items():
        if path.resolve().is_relative_to(data):
            raise KeyError_(
                f"the key file {path} ({setting}) lies inside the data folder {data_dir}: in production "
                "(SAFECITY_AUTO_GENERATE_KEYS=false) keep keys apart from the data and its backups; set "
                "SAFECITY_SECRETS_DIR (or that setting) to a folder outside the data folder (docs/keys.md)"
            )


def load_token_key(path: Path, *, generate: bool) -> bytes:
    """The HMAC key that signs access tokens (32 random bytes, hex in the file)."""
    if not path.exists():
        if not generate:
            raise _missing(path, "token signing")
        _write_private(path, secrets.token_hex(32).encode())
    try:
        return bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise KeyError_(f"token signing key file {path} is malformed: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PseudonymKeys:
    """Versioned pseudonym keys: new data uses `current`; older versions still resolve for joins."""

    current: int
    keys: dict[int, bytes]

    def to_json(self) -> str:
        """The key file's text."""
        return json.dumps({"current": self.current, "keys": {str(v): k.hex() for v, k in self.keys.items()}})

    def rotated(self) -> PseudonymKeys:
        """A new key becomes current; old ones are kept until retention has removed their data."""
        version = max(self.keys) + 1
        return PseudonymKeys(version, {**self.keys, version: secrets.token_bytes(32)})


def load_pseudonym_keys(path: Path, *, generate: bool) -> PseudonymKeys:
    """Read the pseudonym key file, creating version 1 if allowed."""
    if not path.exists():
        if not generate:
            raise _missing(path, "pseudonym")
        _write_private(path, PseudonymKeys(1, {1: secrets.token_bytes(32)}).to_json().encode())
    try:
        raw = json.loads(path.read_text())
        keys = {int(v): bytes.fromhex(k) for v, k in raw["keys"].items()}
        current = int(raw["current"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyError_(f"pseudonym key file {path} is malformed: {exc}") from exc
    if current not in keys:
        raise KeyError_(f"pseudonym key file {path}: current version {current} has no key")
    return PseudonymKeys(current, keys)


def save_pseudonym_keys(path: Path, keys: PseudonymKeys) -> None:
    """Replace the pseudonym key file atomically, keeping it private."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    _write_private(tmp, keys.to_json().encode())
    tmp.replace(path)
    _fsync_dir(path.parent)


def load_audit_key(path: Path, *, generate: bool) -> Ed25519PrivateKey:
    """The Ed25519 key that signs audit chain heads; its public half is written beside it."""
    if not path.exists():
        if not generate:
            raise _missing(path, "audit signing")
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(path, pem)
        public_key_path(path).write_bytes(public_pem(key.public_key()))
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise KeyError_(f"audit signing key file {path} is malformed: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeyError_(f"audit signing key {path} is not an Ed25519 key")
    return loaded


def public_key_path(private_path: Path) -> Path:
    """Where the public half of the audit key is kept (safe to hand to an outside auditor)."""
    return private_path.with_suffix(".pub")


def public_pem(key: Ed25519PublicKey) -> bytes:
    """PEM text of a public key."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An auditor's copy of the audit public key."""
    loaded = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(loaded, Ed25519PublicKey):
        raise KeyError_(f"{path} is not an Ed25519 public key")
    return loaded


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint naming a public key in seals."""
    import hashlib

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class KeyFile:
    """One key file as `safecity keys init` reports it."""

    what: str
    path: Path
    created: bool
    mode: int  # permission bits; anything for group or others means the file leaks

    @property
    def is_private(self) -> bool:
        """Whether only the owner can read it (public halves need not be)."""
        return not self.mode & 0o077


def init_key_files(*, token: Path, pseudonym: Path, audit: Path) -> list[KeyFile]:
    """Create whichever key files are missing, never touching existing ones (which are read back
    to check them); report every file."""
    public = public_key_path(audit)
    public_existed = public.exists()  # generating the audit key writes its public half too
    report = []
    for what, path, load in (
        ("token signing", token, load_token_key),
        ("pseudonym", pseudonym, load_pseudonym_keys),
        ("audit signing", audit, load_audit_key),
    ):
        existed = path.exists()
        load(path, generate=True)
        report.append(KeyFile(what, path, not existed, path.stat().st_mode & 0o777))
    if not public.exists():  # derivable from the private key, so safe to recreate
        public.write_bytes(public_pem(load_audit_key(audit, generate=False).public_key()))
    report.append(KeyFile("audit public", public, not public_existed, public.stat().st_mode & 0o777))
    return report
