"""The generated protobuf classes (interop/python/gen, made by `npm run generate:python`)."""
import pathlib
import sys

GEN_DIR = pathlib.Path(__file__).resolve().parent.parent / "gen"
if not (GEN_DIR / "meowonion" / "v1" / "link_pb2.py").exists():
    raise SystemExit(f"{GEN_DIR} is missing: run `npm run generate:python` in the repository first")
sys.path.insert(0, str(GEN_DIR))
# Imported only now that gen/ is on the path.

from meowonion.v1 import consensus_pb2 as consensus
from meowonion.v1 import descriptor_pb2 as descriptor
from meowonion.v1 import directory_pb2 as directory
from meowonion.v1 import link_pb2 as link
from meowonion.v1 import relay_pb2 as relay

__all__ = ["consensus", "descriptor", "directory", "link", "relay"]
