#!/usr/bin/env python3
"""Independent cross-check of the suite's vector files (conformance/vectors/*.json).

Recomputes every value with Python's `cryptography` package and a hand-written protobuf
encoder: nothing here shares code with the TypeScript suite or with MeowOnion. Run from the
repository root:  python3 conformance/vectors/crosscheck.py
"""
import hashlib, hmac, json, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization

HERE = os.path.dirname(os.path.abspath(__file__))
def load(n): return json.load(open(os.path.join(HERE, n)))
H = bytes.fromhex
failures = []
def check(cond, what):
    if not cond: failures.append(what); print("MISMATCH:", what)

def pattern(n, seed):
    key = hashlib.sha256(seed.encode()).digest()[:16]
    e = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()
    return e.update(b"\0" * n)

# ---- protobuf by hand
def varint(n):
    out = bytearray()
    while n > 0x7f: out.append((n & 0x7f) | 0x80); n >>= 7
    out.append(n); return bytes(out)
def tag(f, wt): return varint((f << 3) | wt)
def f_varint(f, v): return tag(f, 0) + varint(v) if v else b""
def f_bytes(f, b): return tag(f, 2) + varint(len(b)) + b if len(b) else b""
def f_msg(f, b): return tag(f, 2) + varint(len(b)) + b   # a set message field is emitted even if empty
def f_fixed32(f, v): return tag(f, 5) + v.to_bytes(4, "little") if v else b""
def f_packed(f, vs): 
    body = b"".join(varint(v) for v in vs)
    return tag(f, 2) + varint(len(body)) + body if vs else b""

def encode_frame(fr):
    out = f_fixed32(1, fr["circuitId"])
    c, v = fr["command"]["case"], fr["command"]["value"]
    if c == "hello": body = f_packed(1, v.get("versions", [])) + f_bytes(2, H(v.get("identityKey", ""))) + f_bytes(3, H(v.get("signature", ""))); out += f_msg(2, body)
    elif c == "padding": out += f_msg(3, f_bytes(1, H(v.get("data", ""))))
    elif c == "create2": out += f_msg(4, f_varint(1, v["handshakeType"]) + f_bytes(2, H(v["handshakeData"])))
    elif c == "created2": out += f_msg(5, f_bytes(1, H(v["handshakeData"])))
    elif c == "relay": out += tag(6, 2) + varint(len(H(v))) + H(v)
    elif c == "relayEarly": out += tag(7, 2) + varint(len(H(v))) + H(v)
    elif c == "destroy": out += f_msg(8, f_varint(1, v["reason"]))
    else: raise ValueError(c)
    return varint(len(out)) + out

RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
sk = Ed25519PrivateKey.from_private_bytes(H(RFC8032_SEED))
pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
check(pk.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "RFC 8032 public key")

# ---- frames.json
fr = load("frames.json")
for v in fr["valid"]:
    if v["name"] in ("relay", "relay-early"): check(v["frame"]["command"]["value"] == pattern(509, "frames/relay").hex(), f"frames {v['name']} body")
    enc = encode_frame(v["frame"])
    check(enc.hex() == v["bytes"], f"frames {v['name']} encoding")
    check(len(enc) == v["wire_len"], f"frames {v['name']} wire_len")
    if v["name"] in ("relay", "relay-early"): check(len(enc) == 519, f"frames {v['name']} is 519 bytes")
    if v["name"] == "hello-responder":
        msg = b"meowonion-link-auth-v1\0\x01" + b"\x11" * 32
        Ed25519PublicKey.from_public_bytes(pk).verify(H(v["frame"]["command"]["value"]["signature"]), msg)
check(fr["invalid"][0]["bytes"].startswith("8108"), "oversized varint 1025")

# ---- relay-cells.json
def begin(host, port): return f_bytes(1, host.encode()) + f_varint(2, port)
rc = load("relay-cells.json")
expect_data = {
    "begin": begin("127.0.0.1", 8080),
    "connected": f_bytes(1, b"127.0.0.1") + f_varint(2, 60),
    "data-short": b"meow",
    "data-full": pattern(498, "cells/data-full"),
    "data-495": pattern(495, "cells/data-495"),
    "end-done": f_varint(1, 6),
    "sendme-circuit": f_varint(1, 1) + f_bytes(2, pattern(20, "cells/sendme")),
    "sendme-stream": b"",
    "extend2": f_msg(1, f_bytes(1, b"127.0.0.1:9001")) + f_msg(1, f_bytes(2, pk)) + f_msg(2, f_varint(1, 2) + f_bytes(2, pattern(84, "cells/extend2"))),
}
for c in rc["cells"]:
    data = expect_data[c["name"]]
    check(c["data"] == data.hex(), f"relay-cells {c['name']} data")
    body = bytes([c["command"]]) + b"\0\0" + c["stream_id"].to_bytes(2, "big") + b"\0" * 4 + len(data).to_bytes(2, "big") + data + b"\0" * 4
    check(c["body_prefix"] == body[: min(509, 11 + len(data) + 4)].hex(), f"relay-cells {c['name']} body")

# ---- hkdf-sha256.json
for c in load("hkdf-sha256.json")["cases"]:
    okm = HKDF(algorithm=hashes.SHA256(), length=c["length"], salt=H(c["salt"]) or None, info=H(c["info"])).derive(H(c["ikm"]))
    check(okm.hex() == c["okm"], f"hkdf {c['name']}")
check(load("hkdf-sha256.json")["cases"][0]["okm"].startswith("3cb25f25faacd57a90434f64d0362f2a"), "RFC 5869 A.1 OKM")
check(load("hkdf-sha256.json")["cases"][1]["okm"].startswith("8da4e775a563c18f715f802a063c5a31"), "RFC 5869 A.3 OKM")

# ---- signatures.json
sg = load("signatures.json")
check(sg["public_key"] == pk.hex(), "signatures public key")
for c in sg["cases"]:
    signed = c["domain"].encode() + b"\0" + H(c["message"])
    check(signed.hex() == c["signed_bytes"], f"signatures {c['name']} signed bytes")
    check(sk.sign(signed).hex() == c["signature"], f"signatures {c['name']} signature")
for c in sg["negative"]:
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(H(c["signature"]), c["domain"].encode() + b"\0" + H(c["message"])); ok = True
    except Exception: ok = False
    check(ok == c["valid"], f"signatures negative {c['name']}")

# ---- ntor-v1.json (Tor's) recomputed
nt = load("ntor-v1.json")
b = X25519PrivateKey.from_private_bytes(H(nt["relay_onion_secret_b"])); x = X25519PrivateKey.from_private_bytes(H(nt["client_ephemeral_secret_x"])); y = X25519PrivateKey.from_private_bytes(H(nt["server_ephemeral_secret_y"]))
raw = lambda k: k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
B, X, Y = raw(b), raw(x), raw(y); ID = H(nt["relay_identity_id_20"])
P = b"ntor-curve25519-sha256-1"
si = y.exchange(X25519PublicKey.from_public_bytes(X)) + b.exchange(X25519PublicKey.from_public_bytes(X)) + ID + B + X + Y + P
verify = hmac.new(P + b":verify", si, hashlib.sha256).digest()
auth = hmac.new(P + b":mac", verify + ID + B + Y + X + P + b"Server", hashlib.sha256).digest()
check((Y + auth).hex() == nt["server_handshake_Y_AUTH"], "ntor server handshake")
keys = HKDF(algorithm=hashes.SHA256(), length=72, salt=P + b":key_extract", info=P + b":key_expand").derive(si)
check(keys.hex() == nt["keys_72"], "ntor keys")

# ---- tor1 (Tor's outbound vector) and tor1-inbound.json (ours)
class Hop:
    def __init__(s, km):
        s.df, s.db, s.kf, s.kb = km[0:20], km[20:40], km[40:56], km[56:72]
        s.fwd = Cipher(algorithms.AES(s.kf), modes.CTR(b"\0" * 16)).encryptor(); s.bwd = Cipher(algorithms.AES(s.kb), modes.CTR(b"\0" * 16)).encryptor()
        s.fd = hashlib.sha1(s.df); s.bd = hashlib.sha1(s.db)
t1 = load("tor1-relay-crypto.json")
hops = [Hop(H(k)) for k in t1["hop_key_material_92"]]
shake = hashlib.shake_256(t1["shake256_seed_ascii"].encode()).digest(51 * 498)
want = {e["cell_index"]: e["ciphertext_509"] for e in t1["expected"]}
for n in range(51):
    body = bytearray(509); body[0] = 2; body[4] = 1; body[9] = 1; body[10] = 242; body[11:] = shake[n * 498:(n + 1) * 498]
    hops[2].fd.update(bytes(body)); body[5:9] = hops[2].fd.copy().digest()[:4]
    c = bytes(body)
    for h in (2, 1, 0): c = hops[h].fwd.update(c)
    if n in want: check(c.hex() == want[n], f"tor1 outbound cell {n}")
ib = load("tor1-inbound.json")
hops = [Hop(H(k)) for k in ib["hop_key_material_92"]]
for c in ib["cells"]:
    body = bytearray(H(c["plaintext"])); h = c["originating_hop"]
    z = bytearray(body); z[5:9] = b"\0\0\0\0"; hops[h].bd.update(bytes(z)); body[5:9] = hops[h].bd.copy().digest()[:4]
    ct = bytes(body)
    for k in range(h, -1, -1): ct = hops[k].bwd.update(ct)
    check(ct.hex() == c["ciphertext"], f"tor1-inbound cell {c['index']}")

if failures:
    print(f"{len(failures)} mismatches"); sys.exit(1)
print("crosscheck: every vector value reproduced independently")
