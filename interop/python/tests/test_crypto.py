"""ntor, tor1, HKDF and signatures against Tor's vectors and the suite's."""
import hashlib
import unittest

from meowonion_py import ntor
from meowonion_py.crypto import Identity, OnionKey, hkdf_sha256, verify
from meowonion_py.tor1 import ClientCircuitCrypto, RelayHopCrypto

from .vectors import b, load


class NtorTest(unittest.TestCase):
    v = load("ntor-v1.json")

    def test_server_reproduces_tor(self):
        reply, keys = ntor.server_handshake(
            b(self.v["relay_identity_id_20"]),
            [OnionKey.from_secret(b(self.v["relay_onion_secret_b"]))],
            b(self.v["client_handshake_ID_B_X"]),
            OnionKey.from_secret(b(self.v["server_ephemeral_secret_y"])),
        )
        self.assertEqual(reply.hex(), self.v["server_handshake_Y_AUTH"])
        self.assertEqual(keys[:72].hex(), self.v["keys_72"])

    def test_client_reproduces_tor(self):
        client = ntor.ClientHandshake(b(self.v["relay_identity_id_20"]), b(self.v["relay_onion_public_B"]), OnionKey.from_secret(b(self.v["client_ephemeral_secret_x"])))
        self.assertEqual(client.message.hex(), self.v["client_handshake_ID_B_X"])
        self.assertEqual(client.finish(b(self.v["server_handshake_Y_AUTH"]))[:72].hex(), self.v["keys_72"])

    def test_client_refuses_a_bad_auth(self):
        client = ntor.ClientHandshake(b(self.v["relay_identity_id_20"]), b(self.v["relay_onion_public_B"]), OnionKey.from_secret(b(self.v["client_ephemeral_secret_x"])))
        reply = bytearray(b(self.v["server_handshake_Y_AUTH"]))
        reply[40] ^= 1
        with self.assertRaises(ntor.HandshakeError):
            client.finish(bytes(reply))

    def test_server_refuses_unknown_onion_key_and_id(self):
        onion = OnionKey.from_secret(b(self.v["relay_onion_secret_b"]))
        handshake = b(self.v["client_handshake_ID_B_X"])
        with self.assertRaises(ntor.HandshakeError):
            ntor.server_handshake(b(self.v["relay_identity_id_20"]), [OnionKey.generate()], handshake)
        with self.assertRaises(ntor.HandshakeError):
            ntor.server_handshake(bytes(20), [onion], handshake)
        with self.assertRaises(ntor.HandshakeError):
            ntor.server_handshake(b(self.v["relay_identity_id_20"]), [onion], handshake[:83])


def tor1_plaintexts(v: dict, count: int) -> list[bytearray]:
    """The plaintext construction described in tor1-relay-crypto.json."""
    stream = hashlib.shake_256(v["shake256_seed_ascii"].encode()).digest(498 * count)
    bodies = []
    for n in range(count):
        body = bytearray(509)
        body[0], body[4], body[9], body[10] = 2, 1, 1, 242
        body[11:] = stream[498 * n:498 * (n + 1)]
        bodies.append(body)
    return bodies


class Tor1Test(unittest.TestCase):
    v = load("tor1-relay-crypto.json")

    def test_outbound_reproduces_c_tor(self):
        crypto = ClientCircuitCrypto()
        for material in self.v["hop_key_material_92"]:
            crypto.add_hop(b(material))
        expected = {e["cell_index"]: e["ciphertext_509"] for e in self.v["expected"]}
        for n, body in enumerate(tor1_plaintexts(self.v, 51)):
            cell = crypto.encrypt_outbound(body, 2)
            if n in expected:
                self.assertEqual(cell.hex(), expected[n], f"cell {n}")

    def test_relays_strip_layers_and_the_last_recognizes(self):
        client = ClientCircuitCrypto()
        relays = [RelayHopCrypto(b(m)) for m in self.v["hop_key_material_92"]]
        for m in self.v["hop_key_material_92"]:
            client.add_hop(b(m))
        for body in tor1_plaintexts(self.v, 5):
            cell = client.encrypt_outbound(bytearray(body), 2)
            for i, relay in enumerate(relays):
                cell = relay.forward.crypt(cell)
                self.assertEqual(relay.forward.recognize(cell), i == 2)
            self.assertEqual(cell[11:], bytes(body[11:]))

    def test_inbound_vectors(self):
        v = load("tor1-inbound.json")
        client = ClientCircuitCrypto()
        relays = [RelayHopCrypto(b(m)) for m in v["hop_key_material_92"]]
        for m in v["hop_key_material_92"]:
            client.add_hop(b(m))
        for case in v["cells"]:
            origin = case["originating_hop"]
            cell = relays[origin].originate(bytearray(b(case["plaintext"])))
            for hop in range(origin - 1, -1, -1):
                cell = relays[hop].backward.crypt(cell)
            self.assertEqual(cell.hex(), case["ciphertext"], f"cell {case['index']}")
            hop, body = client.decrypt_inbound(cell)
            self.assertEqual(hop, origin)

    def test_flipped_bit_is_not_recognized_and_keeps_the_digest(self):
        materials = [b(m) for m in self.v["hop_key_material_92"]]
        client, relay = ClientCircuitCrypto(), RelayHopCrypto(materials[0])
        client.add_hop(materials[0])
        body = tor1_plaintexts(self.v, 2)
        bad = bytearray(client.encrypt_outbound(bytearray(body[0]), 0))
        bad[200] ^= 4
        before = relay.forward.running_digest()
        self.assertFalse(relay.forward.recognize(relay.forward.crypt(bytes(bad))))
        self.assertEqual(relay.forward.running_digest(), before)


class HkdfAndSignaturesTest(unittest.TestCase):
    def test_hkdf_vectors(self):
        for case in load("hkdf-sha256.json")["cases"]:
            self.assertEqual(hkdf_sha256(b(case["ikm"]), b(case["salt"]), b(case["info"]), case["length"]).hex(), case["okm"], case["name"])

    def test_signature_vectors(self):
        v = load("signatures.json")
        identity = Identity.from_seed(b(v["seed"]))
        self.assertEqual(identity.public.hex(), v["public_key"])
        for case in v["cases"]:
            self.assertEqual(identity.sign(case["domain"], b(case["message"])).hex(), case["signature"], case["name"])
            self.assertTrue(verify(case["domain"], identity.public, b(case["message"]), b(case["signature"])))
        for case in v["negative"]:
            self.assertEqual(verify(case["domain"], identity.public, b(case["message"]), b(case["signature"])), case["valid"], case["name"])


if __name__ == "__main__":
    unittest.main()
