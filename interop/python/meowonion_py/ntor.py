"""Tor's ntor handshake (link.proto HANDSHAKE_TYPE_NTOR), server and client side."""
import hashlib
import hmac

from .crypto import OnionKey, hkdf_sha256

PROTOID = b"ntor-curve25519-sha256-1"
T_MAC = PROTOID + b":mac"
T_KEY = PROTOID + b":key_extract"
T_VERIFY = PROTOID + b":verify"
M_EXPAND = PROTOID + b":key_expand"
KEY_MATERIAL_LEN = 92
CLIENT_HANDSHAKE_LEN = 84
SERVER_HANDSHAKE_LEN = 64


class HandshakeError(Exception):
    pass


def _h(message: bytes, tweak: bytes) -> bytes:
    return hmac.new(tweak, message, hashlib.sha256).digest()


def _derive(secret_input: bytes, relay_id: bytes, b_pub: bytes, x_pub: bytes, y_pub: bytes) -> tuple[bytes, bytes]:
    """AUTH and the 92 bytes of key material from secret_input."""
    verify = _h(secret_input, T_VERIFY)
    auth_input = verify + relay_id + b_pub + y_pub + x_pub + PROTOID + b"Server"
    return _h(auth_input, T_MAC), hkdf_sha256(secret_input, T_KEY, M_EXPAND, KEY_MATERIAL_LEN)


def server_handshake(relay_id: bytes, onion_keys: list[OnionKey], client_handshake: bytes, ephemeral: OnionKey | None = None) -> tuple[bytes, bytes]:
    """Answer a client handshake: (Y | AUTH, key material). onion_keys: current and previous."""
    if len(client_handshake) != CLIENT_HANDSHAKE_LEN:
        raise HandshakeError(f"ntor handshake is {len(client_handshake)} bytes, not 84")
    got_id, b_pub, x_pub = client_handshake[:20], client_handshake[20:52], client_handshake[52:]
    if got_id != relay_id:
        raise HandshakeError("ntor handshake names another relay id")
    onion = next((k for k in onion_keys if k.public == b_pub), None)
    if onion is None:
        raise HandshakeError("ntor handshake names an onion key this relay does not have")
    y = ephemeral or OnionKey.generate()
    try:
        secret_input = y.exchange(x_pub) + onion.exchange(x_pub) + relay_id + b_pub + x_pub + y.public + PROTOID
    except ValueError as e:
        raise HandshakeError(str(e)) from e
    auth, keys = _derive(secret_input, relay_id, b_pub, x_pub, y.public)
    return y.public + auth, keys


class ClientHandshake:
    """The client side: `message` goes in CREATE2/EXTEND2, `finish` checks the reply."""

    def __init__(self, relay_id: bytes, onion_public: bytes, ephemeral: OnionKey | None = None):
        self.relay_id = relay_id
        self.onion_public = onion_public
        self.x = ephemeral or OnionKey.generate()
        self.message = relay_id + onion_public + self.x.public

    def finish(self, server_handshake: bytes) -> bytes:
        if len(server_handshake) != SERVER_HANDSHAKE_LEN:
            raise HandshakeError(f"ntor reply is {len(server_handshake)} bytes, not 64")
        y_pub, auth = server_handshake[:32], server_handshake[32:]
        try:
            secret_input = self.x.exchange(y_pub) + self.x.exchange(self.onion_public) + self.relay_id + self.onion_public + self.x.public + y_pub + PROTOID
        except ValueError as e:
            raise HandshakeError(str(e)) from e
        expected, keys = _derive(secret_input, self.relay_id, self.onion_public, self.x.public, y_pub)
        if not hmac.compare_digest(expected, auth):
            raise HandshakeError("ntor AUTH does not verify")
        return keys
