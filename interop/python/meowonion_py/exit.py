"""The exit end of a circuit (relay.proto BEGIN/CONNECTED/DATA/END/RESOLVE, SENDME AND FLOW
CONTROL): TCP streams to destinations under the exit policy, with Tor's fixed windows.
Congestion control is declined (version 0), so XOFF/XON never apply."""
import asyncio
import errno
import ipaddress
import re
import socket

from . import exit_policy
from .cells import MAX_DATA
from .flow import CircuitWindows, FlowError, StreamWindows
from .spec import relay as r

MAX_STREAMS = 512
CONNECT_TIMEOUT_S = 15
ANSWER_TTL_S = 60
MAX_ANSWERS = 16
# Stream SENDMEs wait while this much of the client's data waits for the destination socket.
DESTINATION_BACKLOG = 64 * 1024
HOSTNAME = re.compile(r"^[A-Za-z0-9.-]{1,255}$")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(HOSTNAME.match(host))


def _connect_failure(error: BaseException) -> int:
    if isinstance(error, ConnectionRefusedError):
        return r.END_REASON_CONNECTREFUSED
    if isinstance(error, asyncio.TimeoutError):
        return r.END_REASON_TIMEOUT
    if isinstance(error, OSError) and error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return r.END_REASON_NOROUTE
    return r.END_REASON_MISC


async def resolve(host: str, port: int) -> list[str]:
    """Addresses of `host` (in resolver order, no duplicates); [] if it does not resolve."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(info[4][0] for info in infos))


class ExitStream:
    def __init__(self, edge: "ExitEdge", stream_id: int):
        self.edge = edge
        self.id = stream_id
        self.windows = StreamWindows()
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task | None = None
        self.sent_end = False
        self.got_end = False
        self._sendme_waiting = False

    def deliver(self, payload: bytes) -> None:
        """Client DATA towards the destination, and stream SENDMEs once the destination keeps up."""
        self.windows.data_received()
        self.writer.write(payload)
        if not self.windows.sendme_due() or self._sendme_waiting:
            return
        if self.writer.transport.get_write_buffer_size() < DESTINATION_BACKLOG:
            self._send_sendmes()
        else:
            self._sendme_waiting = True
            asyncio.get_running_loop().create_task(self._sendmes_after_drain())

    def _send_sendmes(self) -> None:
        while self.windows.sendme_due():
            self.windows.sendme_sent()
            self.edge.send(r.RELAY_COMMAND_SENDME, self.id, r.Sendme(version=0))

    async def _sendmes_after_drain(self) -> None:
        try:
            await self.writer.drain()
        except ConnectionError:
            return
        self._sendme_waiting = False
        if self.edge.streams.get(self.id) is self:
            self._send_sendmes()

    def close(self) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()


class ExitEdge:
    """Stream handling and windows of the hop that clients send BEGIN to."""

    def __init__(self, circuit, policy):
        self.circuit = circuit
        self.policy = policy
        self.windows = CircuitWindows()
        self.streams: dict[int, ExitStream] = {}
        self.streams_begun = False
        self.congestion_control_requested = False
        self._window_opened = asyncio.Event()

    def send(self, command: int, stream_id: int, message) -> None:
        self.circuit.send_cell(command, stream_id, message.SerializeToString())

    # ------------------------------------------------------------ commands from the client

    def begin(self, stream_id: int, data: bytes) -> None:
        begin = r.Begin.FromString(data)
        self.streams_begun = True
        if stream_id == 0 or stream_id in self.streams:
            raise FlowError(f"BEGIN on stream id {stream_id} (zero or in use)")
        if not exit_policy.accepts_anything(self.policy):
            self.send(r.RELAY_COMMAND_END, stream_id, r.End(reason=r.END_REASON_EXITPOLICY))
            return
        if not _valid_host(begin.host) or not 1 <= begin.port <= 65535:
            self.send(r.RELAY_COMMAND_END, stream_id, r.End(reason=r.END_REASON_TORPROTOCOL))
            return
        if len(self.streams) >= MAX_STREAMS:
            self.send(r.RELAY_COMMAND_END, stream_id, r.End(reason=r.END_REASON_RESOURCELIMIT))
            return
        stream = ExitStream(self, stream_id)
        self.streams[stream_id] = stream
        stream.task = asyncio.get_running_loop().create_task(self._connect(stream, begin.host, begin.port))

    def resolve(self, stream_id: int, data: bytes) -> None:
        request = r.Resolve.FromString(data)
        self.streams_begun = True
        if not exit_policy.accepts_anything(self.policy):
            self.send(r.RELAY_COMMAND_END, stream_id, r.End(reason=r.END_REASON_EXITPOLICY))
            return
        asyncio.get_running_loop().create_task(self._resolve(stream_id, request.host))

    def data(self, stream_id: int, payload: bytes) -> None:
        if self.windows.data_received():
            self.send(r.RELAY_COMMAND_SENDME, 0, r.Sendme(version=1, digest=self.circuit.crypto.forward.running_digest()))
        stream = self.streams.get(stream_id)
        # A stream may have ended while this DATA crossed our END: ignore it then.
        if stream is not None and stream.writer is not None and not stream.got_end:
            stream.deliver(payload)

    def end(self, stream_id: int, data: bytes) -> None:
        end = r.End.FromString(data)
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if end.reason == r.END_REASON_DONE and stream.writer is not None:
            stream.got_end = True
            if stream.writer.can_write_eof():
                stream.writer.write_eof()
            if stream.sent_end:
                self._forget(stream)
        else:
            self._forget(stream)

    def sendme(self, stream_id: int, data: bytes) -> None:
        sendme = r.Sendme.FromString(data)
        if stream_id == 0:
            self.windows.sendme_received(sendme.version, sendme.digest)
        else:
            if sendme.version != 0:
                raise FlowError(f"stream SENDME version {sendme.version}")
            stream = self.streams.get(stream_id)
            if stream is None:
                return
            stream.windows.sendme_received()
        self._window_opened.set()

    def congestion_control_request(self, data: bytes) -> None:
        """Declined (version 0): this relay keeps the fixed windows; the request's rules still hold."""
        r.CongestionControlRequest.FromString(data)
        if self.circuit.has_next_hop or self.streams_begun or self.congestion_control_requested:
            raise FlowError("CONGESTION_CONTROL_REQUEST late, repeated, or not at the last hop")
        self.congestion_control_requested = True
        self.send(r.RELAY_COMMAND_CONGESTION_CONTROL_RESPONSE, 0, r.CongestionControlResponse(version=0))

    def close(self) -> None:
        for stream in list(self.streams.values()):
            self._forget(stream)
        self._window_opened.set()

    # ------------------------------------------------------------ streams

    async def _connect(self, stream: ExitStream, host: str, port: int) -> None:
        addresses = await resolve(host, port)
        if not addresses:
            return self._refuse(stream, r.END_REASON_RESOLVEFAILED)
        allowed = [a for a in addresses if exit_policy.allows(self.policy, a, port)]
        if not allowed:
            return self._refuse(stream, r.END_REASON_EXITPOLICY)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(allowed[0], port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as e:
            return self._refuse(stream, _connect_failure(e))
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream.writer = writer
        self.send(r.RELAY_COMMAND_CONNECTED, stream.id, r.Connected(address=allowed[0], ttl_seconds=ANSWER_TTL_S))
        await self._pump(stream, reader)

    def _refuse(self, stream: ExitStream, reason: int) -> None:
        self.send(r.RELAY_COMMAND_END, stream.id, r.End(reason=reason))
        self.streams.pop(stream.id, None)

    async def _pump(self, stream: ExitStream, reader: asyncio.StreamReader) -> None:
        """Destination → client as DATA cells, only while both windows and the link allow."""
        reason = r.END_REASON_DONE
        try:
            while True:
                await self._packagable(stream)
                budget = min(stream.windows.package, self.windows.package, 32)
                data = await reader.read(budget * MAX_DATA)
                if not data:
                    break
                for i in range(0, len(data), MAX_DATA):
                    # Other streams' pumps may have used the circuit window while this one
                    # was reading or waiting: check it again before every cell.
                    await self._packagable(stream)
                    self._send_data(stream, data[i:i + MAX_DATA])
        except ConnectionResetError:
            reason = r.END_REASON_CONNRESET
        except OSError:
            reason = r.END_REASON_MISC
        stream.sent_end = True
        self.send(r.RELAY_COMMAND_END, stream.id, r.End(reason=reason))
        if reason != r.END_REASON_DONE or stream.got_end:
            self._forget(stream)

    async def _packagable(self, stream: ExitStream) -> None:
        """Returns when a DATA cell may go now: both windows open and the link writable."""
        while True:
            while stream.windows.package <= 0 or self.windows.package <= 0:
                self._window_opened.clear()
                await self._window_opened.wait()
            await self.circuit.towards_client_writable()
            if stream.windows.package > 0 and self.windows.package > 0:
                return

    def _send_data(self, stream: ExitStream, chunk: bytes) -> None:
        stream.windows.package -= 1
        self.circuit.send_cell(r.RELAY_COMMAND_DATA, stream.id, chunk)
        self.windows.data_sent(self.circuit.crypto.backward.running_digest())

    def _forget(self, stream: ExitStream) -> None:
        if self.streams.get(stream.id) is stream:
            del self.streams[stream.id]
        stream.close()

    async def _resolve(self, stream_id: int, host: str) -> None:
        addresses = await resolve(host, 0) if _valid_host(host) else []
        answers = [r.ResolvedAnswer(address=a, ttl_seconds=ANSWER_TTL_S) for a in addresses[:MAX_ANSWERS]]
        self.send(r.RELAY_COMMAND_RESOLVED, stream_id, r.Resolved(answers=answers))
