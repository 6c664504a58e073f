"""The 509-byte relay cell body of relay.proto (Tor's 11-byte header)."""
import os
import struct

BODY_LEN = 509
HEADER_LEN = 11
MAX_DATA = 498
RECOGNIZED_SLICE = slice(1, 3)
DIGEST_SLICE = slice(5, 9)


class CellError(Exception):
    pass


def encode(command: int, stream_id: int, data: bytes = b"") -> bytearray:
    """A plaintext body: header (recognized and digest zero), data, 4 zero bytes, random padding."""
    if len(data) > MAX_DATA:
        raise CellError(f"relay data of {len(data)} bytes (at most 498)")
    body = bytearray(struct.pack(">BHHIH", command, 0, stream_id, 0, len(data)))
    body += data
    pad = BODY_LEN - len(body)
    zeros = min(4, pad)
    body += bytes(zeros) + os.urandom(pad - zeros)
    return body


class RelayCell:
    __slots__ = ("command", "recognized", "stream_id", "digest", "data")

    def __init__(self, command: int, recognized: int, stream_id: int, digest: bytes, data: bytes):
        self.command, self.recognized, self.stream_id, self.digest, self.data = command, recognized, stream_id, digest, data


def decode(body: bytes) -> RelayCell:
    if len(body) != BODY_LEN:
        raise CellError(f"relay body of {len(body)} bytes (must be 509)")
    command, recognized, stream_id, digest, length = struct.unpack_from(">BHH4sH", body)
    if length > MAX_DATA:
        raise CellError(f"relay cell length {length} above 498")
    return RelayCell(command, recognized, stream_id, digest, bytes(body[HEADER_LEN:HEADER_LEN + length]))
