"""Frames and relay cells against conformance/vectors/frames.json and relay-cells.json."""
import unittest

from meowonion_py import cells, frames
from meowonion_py.spec import link

from .vectors import b, load


def vector_frame(spec: dict):
    """frames.json's {circuitId, command: {case, value}} with hex bytes, as (id, command, value)."""
    case, value = spec["command"]["case"], spec["command"]["value"]
    snake = {"relayEarly": "relay_early"}.get(case, case)
    if snake in ("relay", "relay_early"):
        return spec["circuitId"], snake, b(value)
    message = getattr(link.Frame(), snake).__class__()
    for key, field in value.items():
        name = "".join("_" + ch.lower() if ch.isupper() else ch for ch in key)
        setattr(message, name, b(field) if isinstance(field, str) else field) if not isinstance(field, list) else getattr(message, name).extend(field)
    return spec["circuitId"], snake, message


class FramesTest(unittest.TestCase):
    v = load("frames.json")

    def test_valid_frames_encode_and_decode_byte_for_byte(self):
        for case in self.v["valid"]:
            circuit_id, command, value = vector_frame(case["frame"])
            self.assertEqual(frames.encode(circuit_id, command, value).hex(), case["bytes"], case["name"])
            (got,) = frames.FrameDecoder().push(b(case["bytes"]))
            self.assertEqual(got[:2], (circuit_id, command), case["name"])

    def test_relay_fast_path_equals_protobuf(self):
        body = bytes(range(256)) * 2
        for early in (False, True):
            frame = link.Frame(circuit_id=0x80000123)
            setattr(frame, "relay_early" if early else "relay", body[:509])
            message = frame.SerializeToString()
            self.assertEqual(frames.relay_frame(0x80000123, body[:509], early), frames.varint(len(message)) + message)
            self.assertEqual(len(frames.relay_frame(1, body[:509], early)), 519)

    def test_invalid_frames_are_refused(self):
        for case in self.v["invalid"]:
            with self.assertRaises(frames.FrameError, msg=case["name"]) as caught:
                frames.FrameDecoder().push(b(case["bytes"]))
            self.assertEqual(caught.exception.kind, case["error"], case["name"])

    def test_split_reads_and_partial_frames(self):
        data = b("".join(c["bytes"] for c in self.v["valid"]))
        decoder = frames.FrameDecoder()
        got = []
        for i in range(0, len(data), 7):
            got += decoder.push(data[i:i + 7])
        self.assertEqual(len(got), len(self.v["valid"]))
        self.assertFalse(decoder.has_partial())
        decoder.push(data[:10])
        self.assertTrue(decoder.has_partial())


class RelayCellsTest(unittest.TestCase):
    v = load("relay-cells.json")

    def test_layout(self):
        for case in self.v["cells"]:
            body = cells.encode(case["command"], case["stream_id"], b(case["data"]))
            prefix = b(case["body_prefix"])
            self.assertEqual(len(body), 509)
            self.assertEqual(bytes(body[:len(prefix)]), prefix, case["name"])
            cell = cells.decode(bytes(body))
            self.assertEqual((cell.command, cell.stream_id, cell.data), (case["command"], case["stream_id"], b(case["data"])))

    def test_invalid(self):
        for case in self.v["invalid"]:
            with self.assertRaises(cells.CellError, msg=case["name"]):
                cells.decode(b(case["body"]))


if __name__ == "__main__":
    unittest.main()
