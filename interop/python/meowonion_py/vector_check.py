"""The conformance suite's vector-check protocol (conformance/README.md): one JSON request
per line on stdin, one answer per line on stdout, byte strings in hex."""
import json
import sys

from google.protobuf import json_format

from . import cells, frames, ntor
from .crypto import Identity, OnionKey, hkdf_sha256, verify
from .spec import link as link_pb
from .tor1 import ClientCircuitCrypto, RelayHopCrypto


def _b(h: str) -> bytes:
    return bytes.fromhex(h)


def _ntor_server(q):
    reply, keys = ntor.server_handshake(_b(q["relay_id"]), [OnionKey.from_secret(_b(q["onion_secret"]))], _b(q["client_handshake"]), OnionKey.from_secret(_b(q["server_ephemeral_secret"])))
    return {"server_handshake": reply.hex(), "key_material": keys.hex()}


def _ntor_client(q):
    handshake = ntor.ClientHandshake(_b(q["relay_id"]), _b(q["onion_public"]), OnionKey.from_secret(_b(q["client_ephemeral_secret"])))
    try:
        return {"key_material": handshake.finish(_b(q["server_handshake"])).hex()}
    except ntor.HandshakeError as e:
        return {"error": str(e)}


def _client_crypto(q) -> ClientCircuitCrypto:
    crypto = ClientCircuitCrypto()
    for material in q["key_materials"]:
        crypto.add_hop(_b(material))
    return crypto


def _tor1_client_outbound(q):
    crypto = _client_crypto(q)
    return {"cells": [crypto.encrypt_outbound(bytearray(_b(body)), q["target_hop"]).hex() for body in q["bodies"]]}


def _tor1_client_inbound(q):
    crypto = _client_crypto(q)
    results = []
    for cell in q["cells"]:
        hop, body = crypto.decrypt_inbound(_b(cell))
        results.append({"hop": hop, "body": body.hex()} if hop is not None else {"hop": None})
    return {"results": results}


def _tor1_relay_originate(q):
    hop = RelayHopCrypto(_b(q["key_material"]))
    return {"cells": [hop.originate(bytearray(_b(body))).hex() for body in q["bodies"]]}


def _relay_cell_encode(q):
    return {"body": bytes(cells.encode(q["command"], q["stream_id"], _b(q["data"]))).hex()}


def _relay_cell_decode(q):
    try:
        cell = cells.decode(_b(q["body"]))
    except cells.CellError as e:
        return {"error": str(e)}
    return {"command": cell.command, "recognized": cell.recognized, "stream_id": cell.stream_id, "digest": cell.digest.hex(), "data": cell.data.hex()}


def _frame_decode(q):
    data = _b(q["bytes"])
    try:
        decoder = frames.FrameDecoder()
        got = decoder.push(data)
    except frames.FrameError as e:
        return {"error": e.kind}
    if not got:
        return {"error": "invalid"}
    circuit_id, command, value = got[0]
    frame = link_pb.Frame(circuit_id=circuit_id)
    if command in ("relay", "relay_early"):
        setattr(frame, command, value)
    else:
        getattr(frame, command).CopyFrom(value)
    consumed = len(frames.encode(circuit_id, command, value))
    return {"frame": json_format.MessageToDict(frame), "consumed": consumed}


def _frame_encode(q):
    frame = json_format.ParseDict(q["frame"], link_pb.Frame())
    command = frame.WhichOneof("command")
    return {"bytes": frames.encode(frame.circuit_id, command, getattr(frame, command)).hex()}


def _hkdf(q):
    return {"okm": hkdf_sha256(_b(q["ikm"]), _b(q["salt"]), _b(q["info"]), q["length"]).hex()}


def _sign(q):
    return {"signature": Identity.from_seed(_b(q["seed"])).sign(q["domain"], _b(q["message"])).hex()}


def _verify(q):
    return {"valid": verify(q["domain"], _b(q["public_key"]), _b(q["message"]), _b(q["signature"]))}


OPS = {
    "ntor-server": _ntor_server,
    "ntor-client": _ntor_client,
    "tor1-client-outbound": _tor1_client_outbound,
    "tor1-client-inbound": _tor1_client_inbound,
    "tor1-relay-originate": _tor1_relay_originate,
    "relay-cell-encode": _relay_cell_encode,
    "relay-cell-decode": _relay_cell_decode,
    "frame-decode": _frame_decode,
    "frame-encode": _frame_encode,
    "hkdf-sha256": _hkdf,
    "sign": _sign,
    "verify": _verify,
}


def answer(request: dict) -> dict:
    op = OPS.get(request.get("op"))
    if op is None:
        return {"id": request.get("id"), "unsupported": True}
    try:
        return {"id": request["id"], **op(request)}
    except (ValueError, KeyError, TypeError, ntor.HandshakeError) as e:
        return {"id": request.get("id"), "error": str(e)}


def main() -> int:
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(answer(json.loads(line))), flush=True)
    return 0
