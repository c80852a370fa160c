"""Webhook signatures, as Lago: an RS256 JWT made with the instance's RSA key (claims ``data`` =
the body, ``iss`` = the public API URL), or the base64 HMAC-SHA256 of the body keyed with the
organization's ``hmac_key``.

The RSA key pair is created on first use and kept in ``instance_keys``; concurrent first uses
(several processes) insert with ``ON CONFLICT DO NOTHING`` and all read back the one stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.dialects import postgresql, sqlite

from billow.core.db import Database
from billow.models import InstanceKey

KEY_NAME = "webhook_rsa_private_key"
# database url -> the loaded private key (loading a PEM checks the key: tens of milliseconds)
_keys: dict[str, rsa.RSAPrivateKey] = {}
_lock = threading.Lock()


def _generate() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _stored(database: Database) -> str | None:
    with database.unit_of_work(write=False) as session:
        row = session.get(InstanceKey, KEY_NAME)
        return None if row is None else row.value


def private_key(database: Database) -> rsa.RSAPrivateKey:
    with _lock:
        if database.url not in _keys:
            pem = _stored(database)
            if pem is None:
                insert = postgresql.insert if database.engine.dialect.name == "postgresql" else sqlite.insert
                with database.unit_of_work() as session:
                    session.execute(
                        insert(InstanceKey).values(name=KEY_NAME, value=_generate())
                        .on_conflict_do_nothing(index_elements=["name"])
                    )
                pem = _stored(database)
            assert pem is not None
            key = serialization.load_pem_private_key(pem.encode(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            _keys[database.url] = key
        return _keys[database.url]


def public_key_pem(database: Database) -> bytes:
    return private_key(database).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_base64(database: Database) -> str:
    """The public key PEM in base64, 60 characters a line (as Lago serves it)."""
    text = base64.b64encode(public_key_pem(database)).decode()
    return "".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60))


def jwt_signature(body: str, key: rsa.RSAPrivateKey, issuer: str) -> str:
    return jwt.encode({"data": body, "iss": issuer}, key, algorithm="RS256")


def hmac_signature(body: str, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()).decode()
