"""Links (link.proto): the LinkHello handshake with its exporter-bound identity proof, then a
stream of frames in each direction."""
import asyncio
import logging
import secrets

from . import frames
from .crypto import DOMAIN_LINK_AUTH, Identity, verify
from .spec import link as link_pb
from .tls import TlsStream

LINK_VERSION = 1
EXPORTER_LABEL = b"EXPORTER-meowonion-link-v1"
ROLE_RESPONDER = 0x01
ROLE_INITIATOR = 0x02
TOP_BIT = 0x80000000
MAX_CIRCUIT_ID_TRIES = 64

log = logging.getLogger("meowonion_py.link")


class LinkError(Exception):
    """A failed handshake; `reason` is "identity-mismatch", "bad-proof", "version" or "closed"."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _proof(identity: Identity, role: int, exporter: bytes) -> bytes:
    return identity.sign(DOMAIN_LINK_AUTH, bytes([role]) + exporter)


def _hello(versions: list[int], identity: Identity | None, role: int, exporter: bytes) -> link_pb.LinkHello:
    hello = link_pb.LinkHello(versions=versions)
    if identity is not None:
        hello.identity_key = identity.public
        hello.signature = _proof(identity, role, exporter)
    return hello


def _check_proof(hello, role: int, exporter: bytes, required: bool) -> bytes | None:
    """The peer's proven identity, None for an anonymous initiator."""
    if not hello.identity_key and not hello.signature:
        if required:
            raise LinkError("bad-proof", "the peer sent no identity proof")
        return None
    if not verify(DOMAIN_LINK_AUTH, hello.identity_key, bytes([role]) + exporter, hello.signature):
        raise LinkError("bad-proof", "the peer's identity proof does not verify")
    return bytes(hello.identity_key)


async def _read_hello(tls: TlsStream, decoder: frames.FrameDecoder) -> tuple[link_pb.LinkHello, list]:
    """The peer's first frame, which must be a hello on circuit 0, and any frames after it."""
    while True:
        data = await tls.read()
        if not data:
            raise LinkError("closed", "link closed before the peer's hello")
        try:
            got = decoder.push(data)
        except frames.FrameError as e:
            raise LinkError("closed", f"bad first frame: {e}") from e
        if got:
            circuit_id, command, value = got[0]
            if command != "hello" or circuit_id != 0:
                raise LinkError("closed", f"first frame is {command}, not hello")
            return value, got[1:]


async def connect_link(host: str, port: int, expected_identity: bytes, identity: Identity | None = None, timeout: float = 10.0) -> "Link":
    """Open a link to a relay that must prove `expected_identity`; `identity`: ours, if a relay."""
    async def handshake() -> Link:
        tls = await TlsStream.connect(host, port)
        try:
            exporter = tls.exporter(EXPORTER_LABEL, 32)
            tls.write(frames.encode(0, "hello", _hello([LINK_VERSION], identity, ROLE_INITIATOR, exporter)))
            decoder = frames.FrameDecoder()
            hello, rest = await _read_hello(tls, decoder)
            if list(hello.versions) != [LINK_VERSION]:
                raise LinkError("version", f"responder chose versions {list(hello.versions)}")
            peer = _check_proof(hello, ROLE_RESPONDER, exporter, required=True)
            if peer != expected_identity:
                raise LinkError("identity-mismatch", f"{host}:{port} proved another identity than expected")
            return Link(tls, True, peer, decoder, rest)
        except BaseException:
            tls.close()
            raise

    return await asyncio.wait_for(handshake(), timeout)


async def accept_link(tls: TlsStream, identity: Identity, timeout: float = 10.0) -> "Link":
    async def handshake() -> Link:
        exporter = tls.exporter(EXPORTER_LABEL, 32)
        decoder = frames.FrameDecoder()
        hello, rest = await _read_hello(tls, decoder)
        if rest:
            raise LinkError("closed", "frames sent before our hello")
        if LINK_VERSION not in hello.versions or len(hello.versions) > 8:
            raise LinkError("version", f"initiator offers versions {list(hello.versions)}")
        peer = _check_proof(hello, ROLE_INITIATOR, exporter, required=False)
        tls.write(frames.encode(0, "hello", _hello([LINK_VERSION], identity, ROLE_RESPONDER, exporter)))
        return Link(tls, False, peer, decoder, [])

    return await asyncio.wait_for(handshake(), timeout)


class Link:
    """An established link. The owner sets `on_frame(link, circuit_id, command, value)` and
    `on_close(link, error)` and then calls `start()`."""

    def __init__(self, tls: TlsStream, initiator: bool, peer_identity: bytes | None, decoder: frames.FrameDecoder, pending: list):
        self.tls = tls
        self.initiator = initiator
        self.peer_identity = peer_identity
        self.circuits: dict[int, object] = {}
        self.on_frame = None
        self.on_close = None
        self.closed = False
        self._decoder = decoder
        self._pending = pending
        self._out = bytearray()
        self._flush_scheduled = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        error = None
        try:
            batch = self._pending
            while not self.closed:
                for circuit_id, command, value in batch:
                    self._check_allowed(circuit_id, command)
                    if command != "padding":
                        self.on_frame(self, circuit_id, command, value)
                    if self.closed:
                        return
                data = await self.tls.read()
                if not data:
                    if self._decoder.has_partial():
                        raise frames.FrameError("invalid", "link closed in the middle of a frame")
                    break
                batch = self._decoder.push(data)
        except (frames.FrameError, LinkError) as e:
            error = e
        except (ConnectionError, OSError) as e:
            error = e
        except Exception as e:
            log.exception("bug while handling a frame")
            error = e
        self.close(error)

    @staticmethod
    def _check_allowed(circuit_id: int, command: str) -> None:
        if command == "hello":
            raise LinkError("closed", "a second hello on an established link")
        if circuit_id == 0 and command != "padding":
            raise LinkError("closed", f"{command} frame with circuit id 0")

    def send(self, circuit_id: int, command: str, value) -> None:
        self._queue(frames.encode(circuit_id, command, value))

    def send_relay(self, circuit_id: int, body: bytes, early: bool = False) -> None:
        self._queue(frames.relay_frame(circuit_id, body, early))

    def _queue(self, data: bytes) -> None:
        """Frames queued in one turn of the event loop go out in one TLS write."""
        if self.closed:
            return
        self._out += data
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and not self.closed:
            data, self._out = bytes(self._out), bytearray()
            self.tls.write(data)

    @property
    def congested(self) -> bool:
        return self.tls.congested

    async def writable(self) -> None:
        """Wait while too much is queued towards the peer."""
        if self.tls.congested and not self.closed:
            try:
                await self.tls.drain()
            except ConnectionError:
                pass

    def allocate_circuit_id(self) -> int:
        """Random, nonzero, top bit set iff we opened the link, not in use."""
        for _ in range(MAX_CIRCUIT_ID_TRIES):
            low = secrets.randbelow(TOP_BIT - 1) + 1
            circuit_id = low | TOP_BIT if self.initiator else low
            if circuit_id not in self.circuits:
                return circuit_id
        raise LinkError("closed", "no free circuit id")

    def is_peer_allocated(self, circuit_id: int) -> bool:
        return circuit_id != 0 and bool(circuit_id & TOP_BIT) != self.initiator

    def close(self, error: Exception | None = None) -> None:
        """Flush what is queued, then TLS close and TCP close; tells the owner once."""
        if self.closed:
            return
        if error is not None:
            log.info("link closed on error: %s", error)
        self._flush()
        self.closed = True
        self.tls.close()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        if self.on_close is not None:
            self.on_close(self, error)
