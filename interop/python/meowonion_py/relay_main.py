"""`meowonion_py relay`: run a relay until SIGINT/SIGTERM; prints one ready line on stdout."""
import argparse
import asyncio
import os
import signal

from . import exit_policy
from .keys import load_keys
from .publisher import Publisher, signed_descriptor
from .relay import Relay


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", required=True, help="HOST:PORT for links (port 0: any free port)")
    p.add_argument("--advertise", help="address put in the descriptor (default: the --listen host)")
    p.add_argument("--directory", action="append", required=True, help="authority URL, repeatable")
    p.add_argument("--directory-key", action="append", required=True, help="its Ed25519 key, hex (one per --directory)")
    p.add_argument("--data-dir", required=True, help="where the identity and onion keys are kept")
    p.add_argument("--nickname", default="Unnamed")
    p.add_argument("--exit-policy", default="reject *:*", help='e.g. "accept 127.0.0.0/8:*,reject *:*"')
    p.add_argument("--bandwidth", type=int, default=100 * 1024 * 1024, help="bytes per second advertised")
    p.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats")


async def run(args: argparse.Namespace) -> None:
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    identity, onion = load_keys(args.data_dir)
    policy = exit_policy.parse(args.exit_policy)
    relay = Relay(identity, [onion], policy)
    bound = await relay.listen(host, int(port))
    advertised = args.advertise or host

    def descriptor(now: float):
        return signed_descriptor(identity, nickname=args.nickname, onion_public=onion.public, address=advertised, or_port=bound, exit_policy=policy, bandwidth=args.bandwidth, now=now)

    publisher = asyncio.get_running_loop().create_task(Publisher(identity, args.directory, descriptor, args.heartbeat).run())
    shown = f"[{advertised}]" if ":" in advertised else advertised
    print(f"relay ready or={shown}:{bound} identity={identity.public.hex()} nickname={args.nickname}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    watcher = asyncio.get_running_loop().create_task(_stop_with_parent(stop))
    await stop.wait()
    watcher.cancel()
    publisher.cancel()
    await relay.close()


async def _stop_with_parent(stop: asyncio.Event) -> None:
    """Test harnesses set MEOWONION_TEST_PARENT_PID: if that process disappears without
    stopping us (killed, crashed), stop within a second rather than run on as an orphan."""
    parent = int(os.environ.get("MEOWONION_TEST_PARENT_PID", "0"))
    if parent <= 1:
        return
    while True:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            stop.set()
            return
        await asyncio.sleep(1)
