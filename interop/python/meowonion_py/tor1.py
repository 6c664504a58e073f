"""tor1 relay cryptography (relay.proto CRYPTOGRAPHY, RECOGNITION): per hop and direction one
continuous AES-128-CTR key stream and one running SHA-1 digest."""
import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .cells import BODY_LEN, DIGEST_SLICE, RECOGNIZED_SLICE

ZERO_DIGEST = bytes(4)


class KeyMaterial:
    """The 92 bytes from ntor: Df(20) | Db(20) | Kf(16) | Kb(16) | nonce(20)."""

    def __init__(self, material: bytes):
        if len(material) != 92:
            raise ValueError(f"key material is {len(material)} bytes, not 92")
        self.df, self.db = material[0:20], material[20:40]
        self.kf, self.kb = material[40:56], material[56:72]


class Direction:
    """One direction of one hop: its cipher stream and running digest."""

    def __init__(self, key: bytes, digest_seed: bytes):
        self._cipher = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
        self._digest = hashlib.sha1(digest_seed)

    def crypt(self, data: bytes) -> bytes:
        """Encrypt or decrypt (CTR is its own inverse), continuing the key stream."""
        return self._cipher.update(data)

    def seal(self, body: bytearray) -> None:
        """Originate: zero the digest field, add the body to the running digest, write its first 4 bytes."""
        body[DIGEST_SLICE] = ZERO_DIGEST
        self._digest.update(body)
        body[DIGEST_SLICE] = self._digest.digest()[:4]

    def recognize(self, body: bytes) -> bool:
        """Tor's rule: recognized == 0 and the digest matches; the running digest changes only on a match."""
        if body[RECOGNIZED_SLICE] != b"\x00\x00":
            return False
        trial = self._digest.copy()
        trial.update(body[:5] + ZERO_DIGEST + body[9:BODY_LEN])
        if trial.digest()[:4] != body[DIGEST_SLICE]:
            return False
        self._digest = trial
        return True

    def running_digest(self) -> bytes:
        """The finished SHA-1 of a copy of the running hash: what authenticated SENDMEs carry."""
        return self._digest.digest()


class RelayHopCrypto:
    """A relay's side of its hop: forward cells are decrypted and recognized, backward ones sealed."""

    def __init__(self, material: bytes):
        k = KeyMaterial(material)
        self.forward = Direction(k.kf, k.df)
        self.backward = Direction(k.kb, k.db)

    def originate(self, body: bytearray) -> bytes:
        self.backward.seal(body)
        return self.backward.crypt(bytes(body))


class ClientCircuitCrypto:
    """The client's view of a circuit: one RelayHopCrypto-like pair per hop."""

    def __init__(self):
        self.hops: list[tuple[Direction, Direction]] = []

    def add_hop(self, material: bytes) -> None:
        k = KeyMaterial(material)
        self.hops.append((Direction(k.kf, k.df), Direction(k.kb, k.db)))

    def encrypt_outbound(self, body: bytearray, hop: int) -> bytes:
        self.hops[hop][0].seal(body)
        cell = bytes(body)
        for i in range(hop, -1, -1):
            cell = self.hops[i][0].crypt(cell)
        return cell

    def sent_digest(self, hop: int) -> bytes:
        return self.hops[hop][0].running_digest()

    def received_digest(self, hop: int) -> bytes:
        return self.hops[hop][1].running_digest()

    def decrypt_inbound(self, cell: bytes) -> tuple[int | None, bytes]:
        """Remove layers from hop 0 on; the hop that recognizes the cell, or None."""
        for i, (_, backward) in enumerate(self.hops):
            cell = backward.crypt(cell)
            if backward.recognize(cell):
                return i, cell
        return None, cell
