"""Publishing to the directory authorities (directory.proto PublishDescriptor, Heartbeat): a
signed descriptor, then a signed heartbeat every interval; republished when an authority no
longer holds it, and before it expires."""
import asyncio
import logging
import os
import time

from google.protobuf.timestamp_pb2 import Timestamp

from . import directory
from .crypto import DOMAIN_DESCRIPTOR, DOMAIN_HEARTBEAT, Identity
from .spec import descriptor as d
from .spec import directory as directory_pb

SOFTWARE = "meowonion-py 0.1.0"
DESCRIPTOR_LIFETIME_S = 24 * 3600
REPUBLISH_AFTER_S = 18 * 3600

log = logging.getLogger("meowonion_py.publisher")


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def signed_descriptor(identity: Identity, *, nickname: str, onion_public: bytes, address: str, or_port: int, exit_policy, bandwidth: int, now: float) -> d.SignedDescriptor:
    desc = d.RelayDescriptor(
        nickname=nickname,
        identity_key=identity.public,
        ntor_onion_key=onion_public,
        or_port=or_port,
        exit_policy=exit_policy,
        bandwidth=d.Bandwidth(average_bytes_per_second=bandwidth, burst_bytes_per_second=bandwidth),
        published=_timestamp(now),
        expires=_timestamp(now + DESCRIPTOR_LIFETIME_S),
        software_version=SOFTWARE,
    )
    if ":" in address:
        desc.ipv6_address = address
    else:
        desc.ipv4_address = address
    body = desc.SerializeToString()
    return d.SignedDescriptor(descriptor=body, signature=identity.sign(DOMAIN_DESCRIPTOR, body))


def signed_heartbeat(identity: Identity, now: float) -> tuple[bytes, bytes]:
    body = directory_pb.HeartbeatBody(identity_key=identity.public, sent_at=_timestamp(now), nonce=os.urandom(16)).SerializeToString()
    return body, identity.sign(DOMAIN_HEARTBEAT, body)


class Publisher:
    def __init__(self, identity: Identity, urls: list[str], make_descriptor, interval_s: float):
        self.identity = identity
        self.urls = urls
        self.make_descriptor = make_descriptor
        self.interval_s = interval_s
        self._descriptor = None
        self._made_at = 0.0
        self._published: set[str] = set()

    async def run(self) -> None:
        while True:
            if time.time() - self._made_at > REPUBLISH_AFTER_S:
                self._made_at = time.time()
                self._descriptor = self.make_descriptor(self._made_at)
                self._published.clear()
            for url in self.urls:
                await asyncio.to_thread(self._tell, url)
            await asyncio.sleep(self.interval_s)

    def _tell(self, url: str) -> None:
        """Publish if this authority lacks our descriptor, then heartbeat (never raises)."""
        try:
            if url not in self._published:
                self._publish(url)
            try:
                directory.heartbeat(url, *signed_heartbeat(self.identity, time.time()))
            except directory.ConnectError as e:
                if e.code != "not_found":
                    raise
                self._published.discard(url)
                self._publish(url)
        except directory.ConnectError as e:
            log.warning("directory %s: %s", url, e)

    def _publish(self, url: str) -> None:
        try:
            directory.publish_descriptor(url, self._descriptor)
        except directory.ConnectError as e:
            if e.code != "already_exists":
                raise
        self._published.add(url)
