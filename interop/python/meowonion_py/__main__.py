"""python3 -m meowonion_py relay | fetch | vector-check (see interop/python/README.md)."""
import argparse
import asyncio
import logging
import os
import sys

from . import client_main, relay_main, vector_check


# MEOWONION_LOG_LEVEL as the TypeScript nodes read it (pino's names), in logging's terms.
LOG_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL, "silent": logging.CRITICAL + 1}


def main() -> int:
    level = LOG_LEVELS.get(os.environ.get("MEOWONION_LOG_LEVEL", "info").lower(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="meowonion_py")
    commands = parser.add_subparsers(dest="command", required=True)
    relay_main.add_arguments(commands.add_parser("relay", help="run a relay"))
    client_main.add_arguments(commands.add_parser("fetch", help="fetch one URL through a 3-hop circuit"))
    commands.add_parser("vector-check", help="the conformance suite's vector-check protocol on stdin/stdout")
    args = parser.parse_args()
    if args.command == "relay":
        asyncio.run(relay_main.run(args))
        return 0
    if args.command == "fetch":
        return asyncio.run(client_main.run(args))
    return vector_check.main()


if __name__ == "__main__":
    sys.exit(main())
