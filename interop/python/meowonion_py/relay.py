"""A relay: accepts links, answers CREATE2 with ntor, switches cells between links, extends
circuits and runs exits (link.proto, relay.proto)."""
import asyncio
import ipaddress
import logging

from . import ntor
from .circuit import RelayCircuit
from .crypto import Identity, OnionKey, relay_id
from .link import Link, LinkError, accept_link, connect_link
from .spec import link as l
from .tls import TlsStream, server_context

HANDSHAKE_TIMEOUT_S = 10
LINK_CONNECT_TIMEOUT_S = 10

log = logging.getLogger("meowonion_py.relay")


class Relay:
    def __init__(self, identity: Identity, onion_keys: list[OnionKey], exit_policy):
        self.identity = identity
        self.relay_id = relay_id(identity.public)
        self.onion_keys = onion_keys
        self.exit_policy = exit_policy
        self.links: set[Link] = set()
        self.circuits: set[RelayCircuit] = set()
        self._connecting: dict[tuple[bytes, str], asyncio.Task] = {}
        self._tls = server_context()
        self._server: asyncio.base_events.Server | None = None

    async def listen(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._accept, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader, writer) -> None:
        try:
            tls = await asyncio.wait_for(TlsStream.accept(reader, writer, self._tls), HANDSHAKE_TIMEOUT_S)
        except Exception as e:  # any failed TLS handshake just drops the connection
            log.debug("TLS handshake failed: %s", e)
            writer.close()
            return
        try:
            link = await accept_link(tls, self.identity, HANDSHAKE_TIMEOUT_S)
        except (LinkError, ConnectionError, OSError, asyncio.TimeoutError) as e:
            log.info("link handshake refused: %s", e)
            tls.close()
            return
        self._adopt(link)

    def _adopt(self, link: Link) -> None:
        link.on_frame = self._on_frame
        link.on_close = self._on_link_close
        self.links.add(link)
        link.start()

    async def link_to(self, host: str, port: int, identity: bytes) -> Link:
        """A link to the relay with `identity` at `host`: an open one in either direction whose
        remote address is `host` (relay.proto Extend2 (2): never a link to an address nobody
        named), or a new one."""
        wanted = _canonical_ip(host)
        for link in self.links:
            if not link.closed and link.peer_identity == identity and _canonical_ip(link.tls.peer_address) == wanted:
                return link
        key = (identity, wanted)
        pending = self._connecting.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(self._open(host, port, identity))
            self._connecting[key] = pending
            pending.add_done_callback(lambda _: self._connecting.pop(key, None))
        return await asyncio.shield(pending)

    async def _open(self, host: str, port: int, identity: bytes) -> Link:
        link = await connect_link(host, port, identity, self.identity, LINK_CONNECT_TIMEOUT_S)
        self._adopt(link)
        return link

    def _on_link_close(self, link: Link, error) -> None:
        self.links.discard(link)
        for circuit, _ in list(link.circuits.values()):
            circuit.link_closed(link)

    def _on_frame(self, link: Link, circuit_id: int, command: str, value) -> None:
        entry = link.circuits.get(circuit_id)
        if command == "create2":
            if entry is not None:
                return entry[0].destroy(l.DESTROY_REASON_PROTOCOL)
            return self._create2(link, circuit_id, value)
        if entry is None:
            if command != "destroy":
                link.send(circuit_id, "destroy", l.Destroy(reason=l.DESTROY_REASON_PROTOCOL))
            return
        circuit, side = entry
        if side == "prev":
            circuit.from_prev(command, value)
        else:
            circuit.from_next(command, value)

    def _create2(self, link: Link, circuit_id: int, create2) -> None:
        try:
            if not link.is_peer_allocated(circuit_id) or create2.handshake_type != l.HANDSHAKE_TYPE_NTOR:
                raise ntor.HandshakeError("circuit id of the wrong side, or not an ntor handshake")
            reply, keys = ntor.server_handshake(self.relay_id, self.onion_keys, create2.handshake_data)
        except ntor.HandshakeError as e:
            log.info("CREATE2 refused: %s", e)
            link.send(circuit_id, "destroy", l.Destroy(reason=l.DESTROY_REASON_PROTOCOL))
            return
        self.circuits.add(RelayCircuit(self, link, circuit_id, keys))
        link.send(circuit_id, "created2", l.Created2(handshake_data=reply))

    def circuit_freed(self, circuit: RelayCircuit) -> None:
        self.circuits.discard(circuit)

    async def close(self) -> None:
        """Shutting down: DESTROY HIBERNATING on every circuit, then close every link."""
        if self._server is not None:
            self._server.close()
        for circuit in list(self.circuits):
            circuit.destroy(l.DESTROY_REASON_HIBERNATING)
        for link in list(self.links):
            link.close()


def _canonical_ip(host: str) -> str:
    """One form per address: IPv4-mapped IPv6 as its IPv4 form, IPv6 compressed (ports are not compared)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)
