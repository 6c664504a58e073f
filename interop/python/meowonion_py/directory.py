"""Calling a directory authority (directory.proto HOW TO CALL): Connect unary RPCs over
HTTP/1.1, binary protobuf bodies; and verifying the consensus it serves (consensus.proto)."""
import http.client
import json
import time
import urllib.parse

from .crypto import DOMAIN_CONSENSUS, verify
from .spec import consensus as consensus_pb
from .spec import directory as directory_pb

SERVICE = "meowonion.v1.DirectoryService"
TIMEOUT_S = 10


class ConnectError(Exception):
    """A Connect error: `code` as in the JSON error body ("not_found", "already_exists", ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def call(base_url: str, method: str, request, response_type):
    """POST /meowonion.v1.DirectoryService/<method>, application/proto both ways."""
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=TIMEOUT_S)
    try:
        conn.request(
            "POST",
            f"/{SERVICE}/{method}",
            body=request.SerializeToString(),
            headers={"Content-Type": "application/proto", "Connect-Protocol-Version": "1"},
        )
        res = conn.getresponse()
        body = res.read()
    except OSError as e:
        raise ConnectError("unavailable", f"{base_url}: {e}") from e
    finally:
        conn.close()
    if res.status != 200:
        try:
            err = json.loads(body)
            raise ConnectError(err.get("code", "unknown"), err.get("message", ""))
        except ValueError:
            raise ConnectError("unknown", f"HTTP {res.status} {body[:200]!r}") from None
    return response_type.FromString(body)


def publish_descriptor(base_url: str, signed) -> str:
    req = directory_pb.PublishDescriptorRequest(descriptor=signed)
    return call(base_url, "PublishDescriptor", req, directory_pb.PublishDescriptorResponse).descriptor_digest


def heartbeat(base_url: str, body: bytes, signature: bytes) -> bool:
    req = directory_pb.HeartbeatRequest(heartbeat=body, signature=signature)
    return call(base_url, "Heartbeat", req, directory_pb.HeartbeatResponse).running


class ConsensusError(Exception):
    pass


def verify_consensus(signed, pinned_keys: list[bytes], now: float | None = None):
    """The Consensus, if a majority of the pinned keys signed it and it is still valid."""
    valid = {
        s.authority_key
        for s in signed.signatures
        if s.authority_key in pinned_keys and verify(DOMAIN_CONSENSUS, s.authority_key, signed.consensus, s.signature)
    }
    needed = len(pinned_keys) // 2 + 1
    if len(valid) < needed:
        raise ConsensusError(f"{len(valid)} valid signatures of pinned authorities, {needed} needed")
    consensus = consensus_pb.Consensus.FromString(signed.consensus)
    if (now if now is not None else time.time()) >= consensus.valid_until.seconds + consensus.valid_until.nanos / 1e9:
        raise ConsensusError("the consensus has expired (valid_until passed)")
    return consensus


def fetch_consensus(base_url: str, pinned_keys: list[bytes]):
    signed = call(base_url, "GetConsensus", directory_pb.GetConsensusRequest(), directory_pb.GetConsensusResponse).consensus
    return verify_consensus(signed, pinned_keys)
