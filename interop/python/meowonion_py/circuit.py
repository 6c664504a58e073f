"""One circuit as a relay sees it (link.proto Frame rules, relay.proto RECOGNITION, EXTEND2,
TRUNCATE, DESTROY): the hop towards the client ("prev"), maybe a next hop, and the exit edge."""
import asyncio
import logging

from . import cells
from .exit import ExitEdge
from .flow import FlowError
from .link import Link, LinkError
from .spec import link as l
from .spec import relay as r
from .tor1 import RelayHopCrypto

MAX_RELAY_EARLY = 8
CREATED_TIMEOUT_S = 30
MAX_LINK_SPECIFIERS = 4

log = logging.getLogger("meowonion_py.circuit")


class ProtocolViolation(Exception):
    """The client broke a rule: DESTROY PROTOCOL."""


def parse_address(text: str) -> tuple[str, int]:
    """"203.0.113.5:9001" or "[2001:db8::1]:9001"."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ProtocolViolation(f"bad link specifier address {text!r}")
    return host.strip("[]"), int(port)


class RelayCircuit:
    def __init__(self, relay, link: Link, circuit_id: int, key_material: bytes):
        self.relay = relay
        self.prev_link, self.prev_id = link, circuit_id
        self.next_link: Link | None = None
        self.next_id = 0
        self.crypto = RelayHopCrypto(key_material)
        self.edge = ExitEdge(self, relay.exit_policy)
        self.destroyed = False
        self._early_received = 0
        self._extending = False
        self._extend_task: asyncio.Task | None = None
        self._created_timer: asyncio.TimerHandle | None = None
        link.circuits[circuit_id] = (self, "prev")

    @property
    def has_next_hop(self) -> bool:
        return self.next_link is not None or self._extending

    # ------------------------------------------------------------ frames

    def from_prev(self, command: str, value) -> None:
        if command in ("relay", "relay_early"):
            self._outbound(value, command == "relay_early")
        elif command == "destroy":
            self._forward_destroy(towards_next=True)
        else:
            self.destroy(l.DESTROY_REASON_PROTOCOL)

    def from_next(self, command: str, value) -> None:
        if command == "relay":
            self.prev_link.send_relay(self.prev_id, self.crypto.backward.crypt(value))
        elif command == "created2" and self._created_timer is not None:
            self._created_timer.cancel()
            self._created_timer = None
            self._extending = False
            self.send_cell(r.RELAY_COMMAND_EXTENDED2, 0, r.Extended2(handshake_data=value.handshake_data).SerializeToString())
        elif command == "destroy":
            if self._extending:
                self.next_link.circuits.pop(self.next_id, None)
                self.next_link = None
                self._fail_extend(value.reason)
            else:
                self._forward_destroy(towards_next=False)
        else:
            self.destroy(l.DESTROY_REASON_PROTOCOL)

    def _outbound(self, body: bytes, early: bool) -> None:
        if early:
            self._early_received += 1
            if self._early_received > MAX_RELAY_EARLY:
                return self.destroy(l.DESTROY_REASON_PROTOCOL)
        plain = self.crypto.forward.crypt(body)
        if self.crypto.forward.recognize(plain):
            try:
                self._handle(cells.decode(plain), early)
            except (ProtocolViolation, FlowError, cells.CellError, ValueError) as e:
                log.info("circuit destroyed (PROTOCOL): %s", e)
                self.destroy(l.DESTROY_REASON_PROTOCOL)
        elif self.next_link is not None and not self._extending:
            self.next_link.send_relay(self.next_id, plain, early)
        else:
            self.destroy(l.DESTROY_REASON_PROTOCOL)

    def _handle(self, cell: cells.RelayCell, early: bool) -> None:
        """A cell recognized here. ValueError covers bodies that do not decode (DecodeError)."""
        command, stream_id, data = cell.command, cell.stream_id, cell.data
        if command == r.RELAY_COMMAND_DROP:
            return
        if command == r.RELAY_COMMAND_EXTEND2:
            if not early:
                raise ProtocolViolation("EXTEND2 outside RELAY_EARLY")
            return self._extend2(r.Extend2.FromString(data))
        if command == r.RELAY_COMMAND_TRUNCATE:
            r.Truncate.FromString(data)
            return self._truncate()
        handlers = {
            r.RELAY_COMMAND_BEGIN: self.edge.begin,
            r.RELAY_COMMAND_DATA: self.edge.data,
            r.RELAY_COMMAND_END: self.edge.end,
            r.RELAY_COMMAND_SENDME: self.edge.sendme,
            r.RELAY_COMMAND_RESOLVE: self.edge.resolve,
        }
        if command in handlers:
            return handlers[command](stream_id, data)
        if command == r.RELAY_COMMAND_CONGESTION_CONTROL_REQUEST:
            return self.edge.congestion_control_request(data)
        raise ProtocolViolation(f"relay command {command} is not for a relay (XOFF/XON need congestion control)")

    def send_cell(self, command: int, stream_id: int, data: bytes) -> None:
        """Originate a cell towards the client."""
        if self.destroyed:
            return
        self.prev_link.send_relay(self.prev_id, self.crypto.originate(cells.encode(command, stream_id, data)))

    async def towards_client_writable(self) -> None:
        await self.prev_link.writable()

    # ------------------------------------------------------------ EXTEND2 / TRUNCATE

    def _extend2(self, extend: r.Extend2) -> None:
        if self.has_next_hop:
            raise ProtocolViolation("EXTEND2 on a circuit that already has a next hop")
        specs = list(extend.link_specifiers)
        identities = [s.identity_key for s in specs if s.WhichOneof("specifier") == "identity_key"]
        addresses = [s.address for s in specs if s.WhichOneof("specifier") == "address"]
        if len(specs) > MAX_LINK_SPECIFIERS or len(identities) != 1 or len(identities[0]) != 32 or not addresses:
            raise ProtocolViolation("EXTEND2 needs exactly one identity key and at least one address")
        if identities[0] == self.relay.identity.public:
            raise ProtocolViolation("EXTEND2 to this relay itself")
        host, port = parse_address(addresses[0])
        self._extending = True
        self._extend_task = asyncio.get_running_loop().create_task(self._extend(host, port, identities[0], extend.create2))

    async def _extend(self, host: str, port: int, identity: bytes, create2) -> None:
        try:
            link = await self.relay.link_to(host, port, identity)
        except LinkError as e:
            reason = l.DESTROY_REASON_OR_IDENTITY if e.reason == "identity-mismatch" else l.DESTROY_REASON_CONNECTFAILED
            return self._fail_extend(reason)
        except (OSError, asyncio.TimeoutError):
            return self._fail_extend(l.DESTROY_REASON_CONNECTFAILED)
        if self.destroyed:
            return
        self.next_link, self.next_id = link, link.allocate_circuit_id()
        link.circuits[self.next_id] = (self, "next")
        link.send(self.next_id, "create2", create2)
        self._created_timer = asyncio.get_running_loop().call_later(CREATED_TIMEOUT_S, self._fail_extend, l.DESTROY_REASON_TIMEOUT)

    def _fail_extend(self, reason: int) -> None:
        """The extension failed: the circuit ends here again (relay.proto EXTENSION FAILURE).
        Tell the next relay (if CREATE2 went out) and the client (TRUNCATED) why; the client
        may extend elsewhere."""
        if self.destroyed:
            return
        self._extend_task = None  # may be the running task: never cancel it from inside
        self._drop_next(reason)
        self.send_cell(r.RELAY_COMMAND_TRUNCATED, 0, r.Truncated(reason=reason).SerializeToString())

    def _truncate(self) -> None:
        self._drop_next(l.DESTROY_REASON_REQUESTED)
        self.send_cell(r.RELAY_COMMAND_TRUNCATED, 0, r.Truncated(reason=l.DESTROY_REASON_REQUESTED).SerializeToString())

    def _drop_next(self, reason: int | None) -> None:
        """Forget the next hop; tell it `reason` unless it is None (it already knows)."""
        if self._extend_task is not None:
            self._extend_task.cancel()
        if self._created_timer is not None:
            self._created_timer.cancel()
            self._created_timer = None
        self._extending = False
        if self.next_link is not None:
            if reason is not None:
                self.next_link.send(self.next_id, "destroy", l.Destroy(reason=reason))
            self.next_link.circuits.pop(self.next_id, None)
            self.next_link = None

    # ------------------------------------------------------------ DESTROY

    def _forward_destroy(self, towards_next: bool) -> None:
        """A DESTROY from one side goes to the other side as DESTROYED."""
        if towards_next:
            self._free(prev_reason=None, next_reason=l.DESTROY_REASON_DESTROYED)
        else:
            self._free(prev_reason=l.DESTROY_REASON_DESTROYED, next_reason=None)

    def destroy(self, reason: int) -> None:
        """Destroyed here: both sides are told `reason`."""
        self._free(prev_reason=reason, next_reason=reason)

    def link_closed(self, link: Link) -> None:
        """A link of this circuit closed: the other side gets DESTROY CHANNEL_CLOSED."""
        if link is self.next_link and self._extending:
            self.next_link.circuits.pop(self.next_id, None)
            self.next_link = None
            self._fail_extend(l.DESTROY_REASON_CHANNEL_CLOSED)
        elif link is self.next_link:
            self._free(prev_reason=l.DESTROY_REASON_CHANNEL_CLOSED, next_reason=None)
        else:
            self._free(prev_reason=None, next_reason=l.DESTROY_REASON_CHANNEL_CLOSED)

    def _free(self, prev_reason: int | None, next_reason: int | None) -> None:
        if self.destroyed:
            return
        self.destroyed = True
        self._drop_next(next_reason)
        if prev_reason is not None:
            self.prev_link.send(self.prev_id, "destroy", l.Destroy(reason=prev_reason))
        self.prev_link.circuits.pop(self.prev_id, None)
        self.edge.close()
        self.relay.circuit_freed(self)
