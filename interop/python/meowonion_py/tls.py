"""TLS 1.3 over asyncio streams with pyOpenSSL (link.proto TRANSPORT).

Python's `ssl` module has no TLS exporter (RFC 8446 7.5), which the link identity proof needs,
so TLS runs in pyOpenSSL on memory BIOs: ciphertext moves through asyncio's TCP streams,
plaintext through this class.
"""
import asyncio
import datetime
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto

READ_SIZE = 256 * 1024
# Above this many bytes waiting for the kernel, writers of bulk data wait (link congestion).
WRITE_HIGH_WATER = 256 * 1024


def server_context() -> SSL.Context:
    """TLS 1.3 only, with a fresh self-signed certificate (the link proof, not the certificate,
    authenticates a relay)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meowonion-relay")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    ctx = _context()
    ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))
    ctx.use_certificate(crypto.X509.from_cryptography(cert))
    return ctx


def client_context() -> SSL.Context:
    return _context()


def _context() -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    return ctx


class TlsStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: SSL.Connection):
        self._reader = reader
        self._writer = writer
        self._conn = conn
        self._closed = False
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    @classmethod
    async def connect(cls, host: str, port: int) -> "TlsStream":
        reader, writer = await asyncio.open_connection(host, port)
        conn = SSL.Connection(client_context(), None)
        conn.set_connect_state()
        stream = cls(reader, writer, conn)
        await stream._handshake()
        return stream

    @classmethod
    async def accept(cls, reader, writer, ctx: SSL.Context) -> "TlsStream":
        conn = SSL.Connection(ctx, None)
        conn.set_accept_state()
        stream = cls(reader, writer, conn)
        await stream._handshake()
        return stream

    @property
    def peer_address(self) -> str:
        peer = self._writer.get_extra_info("peername")
        return peer[0] if peer else ""

    async def _handshake(self) -> None:
        while True:
            try:
                self._conn.do_handshake()
                break
            except SSL.WantReadError:
                self._flush()
                data = await self._reader.read(READ_SIZE)
                if not data:
                    raise ConnectionError("connection closed during the TLS handshake")
                self._conn.bio_write(data)
        self._flush()
        if self._conn.get_protocol_version_name() != "TLSv1.3":
            raise ConnectionError(f"negotiated {self._conn.get_protocol_version_name()}, not TLS 1.3")

    def exporter(self, label: bytes, length: int) -> bytes:
        return self._conn.export_keying_material(label, length)

    def _flush(self) -> None:
        while True:
            try:
                data = self._conn.bio_read(READ_SIZE)
            except SSL.WantReadError:
                return
            if not data:
                return
            self._writer.write(data)

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        self._conn.sendall(data)
        self._flush()

    async def read(self) -> bytes:
        """Plaintext; b"" once the peer closed, with close_notify or without (both are a close)."""
        while True:
            try:
                return self._conn.recv(READ_SIZE)
            except SSL.WantReadError:
                pass
            except SSL.ZeroReturnError:
                return b""
            except SSL.SysCallError:
                return b""
            self._flush()
            data = await self._reader.read(READ_SIZE)
            if not data:
                return b""
            self._conn.bio_write(data)

    @property
    def congested(self) -> bool:
        return self._writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self) -> None:
        """TLS close (close_notify), then TCP close; what is already written is still sent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.shutdown()
            self._flush()
        except SSL.Error:
            pass
        self._writer.close()
