"""`meowonion_py fetch`: bootstrap from the consensus, build a circuit, fetch one http:// URL
over one stream, write the body to --output and print `fetch done bytes=N sha256=HEX path=...`."""
import argparse
import hashlib
import logging
import sys
import urllib.parse

from . import directory, path
from .client import ClientCircuit
from .spec import link as l

log = logging.getLogger("meowonion_py.fetch")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="http://HOST:PORT/PATH")
    p.add_argument("--directory", action="append", required=True, help="authority URL, repeatable")
    p.add_argument("--directory-key", action="append", required=True, help="its Ed25519 key, hex (one per --directory)")
    p.add_argument("--output", required=True, help="file for the response body")
    p.add_argument("--path", help="comma-separated identity keys (hex), entry first: skip path selection")
    p.add_argument("--hops", type=int, default=3)
    p.add_argument("--allow-same-subnet", action="store_true", help="allow relays of one IPv4 /16 or IPv6 /32 (loopback networks)")


def _consensus(args):
    pinned = [bytes.fromhex(k) for k in args.directory_key]
    errors = []
    for url in args.directory:
        try:
            return directory.fetch_consensus(url, pinned)
        except (directory.ConnectError, directory.ConsensusError) as e:
            errors.append(f"{url}: {e}")
    raise SystemExit("no valid consensus: " + "; ".join(errors))


def _choose(relays, args, host: str, port: int) -> list:
    if not args.path:
        return path.select_path(relays, host, port, args.hops, not args.allow_same_subnet)
    by_key = {r.identity_key.hex(): r for r in relays}
    missing = [k for k in args.path.split(",") if k not in by_key]
    if missing:
        raise SystemExit(f"not in the consensus: {', '.join(missing)}")
    return [by_key[k] for k in args.path.split(",")]


async def run(args: argparse.Namespace) -> int:
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "http" or not url.hostname or not url.port:
        raise SystemExit("fetch needs http://HOST:PORT/PATH")
    consensus = _consensus(args)
    relays = _choose(list(consensus.relays), args, url.hostname, url.port)
    names = ",".join(r.nickname for r in relays)
    log.info("path %s", names)
    circuit = await ClientCircuit.build(relays)
    try:
        stream = await circuit.open_stream(url.hostname, url.port)
        request = f"GET {url.path or '/'}{'?' + url.query if url.query else ''} HTTP/1.0\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n"
        await stream.write(request.encode())
        response = bytearray()
        while chunk := await stream.read():
            response += chunk
    finally:
        circuit.close(l.DESTROY_REASON_FINISHED)
    head, sep, body = bytes(response).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if not sep or " 200 " not in status + " ":
        print(f"fetch failed: {status or 'no response'} (circuit: {circuit.error})", file=sys.stderr)
        return 1
    with open(args.output, "wb") as f:
        f.write(body)
    print(f"fetch done bytes={len(body)} sha256={hashlib.sha256(body).hexdigest()} path={names}", flush=True)
    return 0
