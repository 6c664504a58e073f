/**
 * `meowonion relay`: run an onion relay until SIGINT/SIGTERM.
 * stdout carries exactly one line, once listening, for other tools to parse:
 *   relay ready or=HOST:PORT identity=<64 hex chars of the Ed25519 identity key> nickname=N
 * Everything else (JSON logs) goes to stderr.
 */
import { parseArgs } from "node:util";
import {
  DEFAULT_BANDWIDTH,
  DEFAULT_EXIT_POLICY,
  DEFAULT_HEARTBEAT_S,
  DEFAULT_NICKNAME,
  DEFAULT_ONION_KEY_ROTATION_S,
  type RelayOptions,
  startRelay,
} from "./relay.js";
import { parseCommandLine, parseDirectoryFlags, parseHostPortFlag, UsageError } from "../common/cli.js";
import { formatHostPort } from "../common/host-port.js";

const USAGE = `Usage: meowonion relay --listen HOST:PORT --directory URL --directory-key HEXKEY --data-dir DIR [options]

Runs an onion relay: accepts TLS links from clients and relays, builds and switches circuits,
extends them to other relays and (with an exit policy that accepts something) opens streams
to destinations. Publishes its signed descriptor and heartbeats to every directory authority.

Options:
  --listen HOST:PORT         address for links; port 0 picks a free one ([::1]:PORT for IPv6)
  --directory URL            a directory authority (http://HOST:PORT); repeat for each
  --directory-key HEXKEY     that authority's Ed25519 key (64 hex chars), one per --directory, in order
  --data-dir DIR             identity and onion keys; created on first start, kept across restarts
  --nickname NAME            1-19 letters or digits (default ${DEFAULT_NICKNAME})
  --exit-policy POLICY       e.g. "accept 127.0.0.0/8:*,reject *:*" (default "${DEFAULT_EXIT_POLICY}": not an exit)
  --bandwidth BYTES_PER_S    rate limit on what the relay reads from and writes to its links (each way),
                             also advertised in the descriptor (default ${DEFAULT_BANDWIDTH}, Tor's)
  --bandwidth-burst BYTES    burst: bytes that may go at once after a quiet period (default: the rate)
  --advertise HOST           IP address published in the descriptor (default: the --listen host)
  --outbound-address HOST    connect to other relays and the authorities from this address
                             (Tor's OutboundBindAddress; default: the system's choice)
  --metrics HOST:PORT        serve Prometheus metrics at http://HOST:PORT/metrics (default: off)
  --onion-key-rotation S     seconds between onion key rotations (default ${DEFAULT_ONION_KEY_ROTATION_S});
                             the previous key stays accepted for one more such period
  --heartbeat S              seconds between heartbeats to the authorities (default ${DEFAULT_HEARTBEAT_S})
  -h, --help                 show this help

Prints "relay ready or=HOST:PORT identity=HEX nickname=NAME" on stdout once listening.
`;

export async function main(argv: string[]): Promise<void> {
  const options = parseCommandLine("relay", USAGE, argv, parse);
  if (options === undefined) return;
  // Signals that arrive while starting still stop us cleanly once started.
  const stop = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  let relay;
  try {
    relay = await startRelay(options);
  } catch (error) {
    process.stderr.write(`meowonion relay: cannot start: ${(error as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const or = formatHostPort(relay.host, relay.port);
  process.stdout.write(`relay ready or=${or} identity=${Buffer.from(relay.identityKey).toString("hex")} nickname=${relay.nickname}\n`);
  const signal = await stop;
  process.stderr.write(`meowonion relay: ${signal}, shutting down\n`);
  await relay.close();
  process.exitCode = 0;
}

function parse(argv: string[]): RelayOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      listen: { type: "string" },
      directory: { type: "string", multiple: true },
      "directory-key": { type: "string", multiple: true },
      "data-dir": { type: "string" },
      nickname: { type: "string" },
      "exit-policy": { type: "string" },
      bandwidth: { type: "string" },
      "bandwidth-burst": { type: "string" },
      advertise: { type: "string" },
      "outbound-address": { type: "string" },
      metrics: { type: "string" },
      "onion-key-rotation": { type: "string" },
      heartbeat: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  if (values.listen === undefined) throw new UsageError("--listen HOST:PORT is required");
  if (values["data-dir"] === undefined) throw new UsageError("--data-dir DIR is required");
  const directories = parseDirectoryFlags(values.directory, values["directory-key"]);
  const listen = parseHostPortFlag("--listen", values.listen);
  return {
    host: listen.host,
    port: listen.port,
    advertiseHost: values.advertise,
    outboundAddress: values["outbound-address"],
    dataDir: values["data-dir"],
    directories,
    nickname: values.nickname,
    exitPolicy: values["exit-policy"],
    bandwidthBytesPerSecond: positive(values.bandwidth, "--bandwidth", true),
    bandwidthBurstBytes: positive(values["bandwidth-burst"], "--bandwidth-burst", true),
    metrics: values.metrics === undefined ? undefined : parseHostPortFlag("--metrics", values.metrics),
    onionKeyRotationSeconds: positive(values["onion-key-rotation"], "--onion-key-rotation", false),
    heartbeatSeconds: positive(values.heartbeat, "--heartbeat", false),
  };
}


function positive(text: string | undefined, flag: string, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${flag} ${JSON.stringify(text)} must be a positive ${integer ? "integer" : "number"}`);
  }
  return value;
}
