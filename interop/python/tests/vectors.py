"""Loads conformance/vectors/*.json (Tor's vectors and the suite's)."""
import json
import pathlib

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "conformance" / "vectors"


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def b(h: str) -> bytes:
    return bytes.fromhex(h)
