"""Link framing (link.proto FRAMING): size-delimited `Frame` messages of at most 1024 bytes.

Frames are handled as (circuit_id, command, value) triples, command being the name of the
oneof field set. RELAY frames, which are most of the traffic and always the same 517 message
bytes, are written and recognized byte for byte instead of going through protobuf; a test
checks those bytes against protobuf's own encoding.
"""
import struct

from google.protobuf.message import DecodeError

from .cells import BODY_LEN
from .spec import link

MAX_FRAME_SIZE = 1024
RELAY_MESSAGE_LEN = 517
# varint(517) | tag 1 fixed32 | id(4) | tag 6 or 7, bytes | varint(509)
_RELAY_PREFIX = struct.Struct("<2sB I B 2s")
_LEN_517 = b"\x85\x04"
_LEN_509 = b"\xfd\x03"
_TAG_CIRCUIT_ID = 0x0D
_TAG_RELAY = 0x32
_TAG_RELAY_EARLY = 0x3A


class FrameError(Exception):
    """A frame that closes the link; `kind` is "oversized" or "invalid"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode(circuit_id: int, command: str, value) -> bytes:
    """varint length | Frame, for any command (value: the submessage, or bytes for relay)."""
    if command in ("relay", "relay_early"):
        return relay_frame(circuit_id, value, command == "relay_early")
    frame = link.Frame(circuit_id=circuit_id)
    getattr(frame, command).CopyFrom(value)
    data = frame.SerializeToString()
    return varint(len(data)) + data


def relay_frame(circuit_id: int, body: bytes, early: bool = False) -> bytes:
    """The 519 wire bytes of a RELAY or RELAY_EARLY frame."""
    tag = _TAG_RELAY_EARLY if early else _TAG_RELAY
    return _RELAY_PREFIX.pack(_LEN_517, _TAG_CIRCUIT_ID, circuit_id, tag, _LEN_509) + body


def parse_message(data: bytes):
    """One Frame message (without its length) as (circuit_id, command, value)."""
    if len(data) == RELAY_MESSAGE_LEN and data[0] == _TAG_CIRCUIT_ID and data[5] in (_TAG_RELAY, _TAG_RELAY_EARLY) and data[6:8] == _LEN_509:
        circuit_id = int.from_bytes(data[1:5], "little")
        return circuit_id, "relay" if data[5] == _TAG_RELAY else "relay_early", data[8:]
    try:
        frame = link.Frame.FromString(data)
    except DecodeError as e:
        raise FrameError("invalid", f"frame does not decode: {e}") from e
    command = frame.WhichOneof("command")
    if command is None:
        raise FrameError("invalid", "frame with no (or an unknown) command")
    value = getattr(frame, command)
    if command in ("relay", "relay_early") and len(value) != BODY_LEN:
        raise FrameError("invalid", f"{command} payload of {len(value)} bytes (must be 509)")
    return frame.circuit_id, command, value


class FrameDecoder:
    """Incremental decoder for one direction of a link."""

    def __init__(self):
        self._buf = bytearray()

    def push(self, data: bytes) -> list:
        self._buf += data
        frames = []
        pos = 0
        buf = self._buf
        while True:
            length, header = self._read_length(buf, pos)
            if length is None or len(buf) - pos - header < length:
                break
            start = pos + header
            frames.append(parse_message(bytes(buf[start:start + length])))
            pos = start + length
        del self._buf[:pos]
        return frames

    @staticmethod
    def _read_length(buf: bytearray, pos: int) -> tuple[int | None, int]:
        value = 0
        for i in range(10):
            if pos + i >= len(buf):
                return None, 0
            b = buf[pos + i]
            value |= (b & 0x7F) << (7 * i)
            if value > MAX_FRAME_SIZE:
                raise FrameError("oversized", f"frame length above {MAX_FRAME_SIZE}")
            if not b & 0x80:
                return value, i + 1
        raise FrameError("invalid", "frame length varint longer than 10 bytes")

    def has_partial(self) -> bool:
        """Bytes of an unfinished frame are buffered (EOF now would truncate it)."""
        return len(self._buf) > 0
