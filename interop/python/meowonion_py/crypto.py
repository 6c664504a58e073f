"""Primitives named by the spec: HKDF-SHA256, domain-separated Ed25519, X25519, relay ids."""
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RAW = serialization.Encoding.Raw
RAW_PUBLIC = serialization.PublicFormat.Raw
RAW_PRIVATE = serialization.PrivateFormat.Raw
NO_ENCRYPTION = serialization.NoEncryption()

# The signing domains of descriptor.proto SIGNATURES, directory.proto and link.proto.
DOMAIN_DESCRIPTOR = "meowonion-descriptor-v1"
DOMAIN_HEARTBEAT = "meowonion-heartbeat-v1"
DOMAIN_CONSENSUS = "meowonion-consensus-v1"
DOMAIN_LINK_AUTH = "meowonion-link-auth-v1"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def domain_message(domain: str, message: bytes) -> bytes:
    return domain.encode() + b"\x00" + message


class Identity:
    """An Ed25519 key pair: a relay's permanent name."""

    def __init__(self, private: Ed25519PrivateKey):
        self.private = private
        self.public = private.public_key().public_bytes(RAW, RAW_PUBLIC)

    @classmethod
    def generate(cls) -> "Identity":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "Identity":
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        return self.private.private_bytes(RAW, RAW_PRIVATE, NO_ENCRYPTION)

    def sign(self, domain: str, message: bytes) -> bytes:
        return self.private.sign(domain_message(domain, message))


def verify(domain: str, public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, domain_message(domain, message))
        return True
    except (InvalidSignature, ValueError):
        return False


class OnionKey:
    """An X25519 key pair (ntor onion key or ephemeral key)."""

    def __init__(self, private: X25519PrivateKey):
        self.private = private
        self.public = private.public_key().public_bytes(RAW, RAW_PUBLIC)

    @classmethod
    def generate(cls) -> "OnionKey":
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_secret(cls, secret: bytes) -> "OnionKey":
        return cls(X25519PrivateKey.from_private_bytes(secret))

    def secret(self) -> bytes:
        return self.private.private_bytes(RAW, RAW_PRIVATE, NO_ENCRYPTION)

    def exchange(self, peer_public: bytes) -> bytes:
        """X25519; raises ValueError on an all-zero result (a low-order peer key)."""
        shared = self.private.exchange(X25519PublicKey.from_public_bytes(peer_public))
        if shared == bytes(32):
            raise ValueError("all-zero Diffie-Hellman result")
        return shared


def relay_id(identity_key: bytes) -> bytes:
    """ntor's ID: the first 20 bytes of SHA-256 of the Ed25519 identity key."""
    return hashlib.sha256(identity_key).digest()[:20]
