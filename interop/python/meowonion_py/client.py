"""The client side of circuits and streams: CREATE2, EXTEND2 (in RELAY_EARLY), BEGIN, DATA,
END, with Tor's fixed windows towards the last hop."""
import asyncio

from . import cells
from .crypto import relay_id
from .flow import CircuitWindows, FlowError, StreamWindows
from .link import Link, connect_link
from .ntor import ClientHandshake
from .spec import link as l
from .spec import relay as r
from .tor1 import ClientCircuitCrypto

STEP_TIMEOUT_S = 15


class CircuitError(Exception):
    pass


def relay_address(relay) -> str:
    """The address of a consensus or descriptor entry, as in a LinkSpecifier."""
    if relay.ipv4_address:
        return f"{relay.ipv4_address}:{relay.or_port}"
    return f"[{relay.ipv6_address}]:{relay.or_port}"


class ClientStream:
    def __init__(self, circuit: "ClientCircuit", stream_id: int):
        self.circuit = circuit
        self.id = stream_id
        self.windows = StreamWindows()
        self.connected = asyncio.get_running_loop().create_future()
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self.end_reason: int | None = None

    async def write(self, data: bytes) -> None:
        for i in range(0, len(data), cells.MAX_DATA):
            await self.circuit.packagable(self)
            self.windows.package -= 1
            self.circuit.send_data(self.id, data[i:i + cells.MAX_DATA])

    async def read(self) -> bytes:
        """The next bytes from the destination; b"" once the exit sent END."""
        return await self.chunks.get()

    def received(self, payload: bytes) -> None:
        self.windows.data_received()
        self.chunks.put_nowait(payload)
        if self.windows.sendme_due():
            self.windows.sendme_sent()
            self.circuit.send(r.RELAY_COMMAND_SENDME, self.id, r.Sendme(version=0))

    def ended(self, reason: int) -> None:
        self.end_reason = reason
        if not self.connected.done():
            self.connected.set_exception(CircuitError(f"END {r.EndReason.Name(reason)} instead of CONNECTED"))
        self.chunks.put_nowait(b"")


class ClientCircuit:
    def __init__(self, link: Link):
        self.link = link
        self.id = link.allocate_circuit_id()
        link.circuits[self.id] = self
        link.on_frame = self._on_frame
        link.on_close = lambda _link, error: self._fail(CircuitError(f"link closed: {error}"))
        self.crypto = ClientCircuitCrypto()
        self.windows = CircuitWindows()
        self.streams: dict[int, ClientStream] = {}
        self.error: Exception | None = None
        self._reply: asyncio.Future | None = None
        self._window_opened = asyncio.Event()
        self._next_stream_id = 1
        link.start()

    @classmethod
    async def build(cls, path: list) -> "ClientCircuit":
        """A circuit through `path` (consensus entries, entry first), as an anonymous client."""
        first = path[0]
        host, _, port = relay_address(first).rpartition(":")
        link = await connect_link(host.strip("[]"), int(port), first.identity_key, None, STEP_TIMEOUT_S)
        circuit = cls(link)
        try:
            await circuit._create(first)
            for relay in path[1:]:
                await circuit._extend(relay)
        except BaseException:
            circuit.close(l.DESTROY_REASON_FINISHED)
            raise
        return circuit

    @property
    def last_hop(self) -> int:
        return len(self.crypto.hops) - 1

    async def _create(self, relay) -> None:
        handshake = ClientHandshake(relay_id(relay.identity_key), relay.ntor_onion_key)
        self.link.send(self.id, "create2", l.Create2(handshake_type=l.HANDSHAKE_TYPE_NTOR, handshake_data=handshake.message))
        self.crypto.add_hop(handshake.finish(await self._await_reply(relay)))

    async def _extend(self, relay) -> None:
        handshake = ClientHandshake(relay_id(relay.identity_key), relay.ntor_onion_key)
        extend = r.Extend2(create2=l.Create2(handshake_type=l.HANDSHAKE_TYPE_NTOR, handshake_data=handshake.message))
        extend.link_specifiers.add(address=relay_address(relay))
        extend.link_specifiers.add(identity_key=relay.identity_key)
        self.send(r.RELAY_COMMAND_EXTEND2, 0, extend, early=True)
        self.crypto.add_hop(handshake.finish(await self._await_reply(relay)))

    async def _await_reply(self, relay) -> bytes:
        self._reply = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self._reply, STEP_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise CircuitError(f"no answer from {relay.nickname} within {STEP_TIMEOUT_S} s") from None

    async def open_stream(self, host: str, port: int) -> ClientStream:
        stream = ClientStream(self, self._next_stream_id)
        self._next_stream_id += 1
        self.streams[stream.id] = stream
        self.send(r.RELAY_COMMAND_BEGIN, stream.id, r.Begin(host=host, port=port))
        await asyncio.wait_for(stream.connected, STEP_TIMEOUT_S)
        return stream

    def send(self, command: int, stream_id: int, message, early: bool = False) -> None:
        self._send_body(cells.encode(command, stream_id, message.SerializeToString()), early)

    def send_data(self, stream_id: int, chunk: bytes) -> None:
        self._send_body(cells.encode(r.RELAY_COMMAND_DATA, stream_id, chunk))
        self.windows.data_sent(self.crypto.sent_digest(self.last_hop))

    def _send_body(self, body: bytearray, early: bool = False) -> None:
        if self.error is None:
            self.link.send_relay(self.id, self.crypto.encrypt_outbound(body, self.last_hop), early)

    async def packagable(self, stream: ClientStream) -> None:
        while self.error is None and (stream.windows.package <= 0 or self.windows.package <= 0):
            self._window_opened.clear()
            await self._window_opened.wait()
        if self.error is not None:
            raise self.error
        await self.link.writable()

    def _on_frame(self, link: Link, circuit_id: int, command: str, value) -> None:
        if circuit_id != self.id:
            return
        if command == "created2":
            self._answer(value.handshake_data)
        elif command == "relay":
            hop, body = self.crypto.decrypt_inbound(value)
            if hop is None:
                return self.close(l.DESTROY_REASON_PROTOCOL, CircuitError("a cell no hop recognizes"))
            try:
                self._handle(hop, cells.decode(body))
            except (FlowError, cells.CellError, ValueError) as e:
                self.close(l.DESTROY_REASON_PROTOCOL, CircuitError(f"protocol violation: {e}"))
        elif command == "destroy":
            self._fail(CircuitError(f"DESTROY {l.DestroyReason.Name(value.reason)}"))
            link.close()
        else:
            self.close(l.DESTROY_REASON_PROTOCOL, CircuitError(f"unexpected {command}"))

    def _handle(self, hop: int, cell: cells.RelayCell) -> None:
        command = cell.command
        if command == r.RELAY_COMMAND_EXTENDED2:
            return self._answer(r.Extended2.FromString(cell.data).handshake_data)
        if command == r.RELAY_COMMAND_TRUNCATED:
            reason = r.Truncated.FromString(cell.data).reason
            return self.close(l.DESTROY_REASON_FINISHED, CircuitError(f"TRUNCATED {l.DestroyReason.Name(reason)} at hop {hop + 1}"))
        if command == r.RELAY_COMMAND_SENDME:
            sendme = r.Sendme.FromString(cell.data)
            if cell.stream_id == 0:
                self.windows.sendme_received(sendme.version, sendme.digest)
            elif cell.stream_id in self.streams:
                self.streams[cell.stream_id].windows.sendme_received()
            self._window_opened.set()
            return
        if command == r.RELAY_COMMAND_DATA and self.windows.data_received():
            self.send(r.RELAY_COMMAND_SENDME, 0, r.Sendme(version=1, digest=self.crypto.received_digest(hop)))
        if command == r.RELAY_COMMAND_DROP:
            return
        stream = self.streams.get(cell.stream_id)
        if stream is None:
            return
        if command == r.RELAY_COMMAND_CONNECTED:
            r.Connected.FromString(cell.data)
            if not stream.connected.done():
                stream.connected.set_result(None)
        elif command == r.RELAY_COMMAND_DATA:
            stream.received(cell.data)
        elif command == r.RELAY_COMMAND_END:
            stream.ended(r.End.FromString(cell.data).reason)
            del self.streams[stream.id]
        else:
            raise FlowError(f"relay command {command} is not for a client")

    def _answer(self, handshake_data: bytes) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(bytes(handshake_data))

    def _fail(self, error: Exception) -> None:
        if self.error is not None:
            return
        self.error = error
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(error)
        for stream in self.streams.values():
            if not stream.connected.done():
                stream.connected.set_exception(error)
            stream.chunks.put_nowait(b"")
        self._window_opened.set()

    def close(self, reason: int, error: Exception | None = None) -> None:
        """DESTROY the circuit (FINISHED when done with it) and close the link it had to itself."""
        if self.error is None:
            self.link.send(self.id, "destroy", l.Destroy(reason=reason))
        self._fail(error or CircuitError("circuit closed"))
        self.link.close()
