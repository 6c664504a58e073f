/**
 * `meowonion directory`: run a directory authority until SIGINT/SIGTERM.
 * stdout carries exactly one line, once listening, for other tools to parse:
 *   directory ready url=http://HOST:PORT key=<64 hex chars of the authority public key>
 * Everything else (logs, the key-creation notice) goes to stderr.
 */
import { parseArgs } from "node:util";
import { hex } from "../netdoc/descriptor.js";
import type { PeerConfig } from "./peers.js";
import {
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_REACHABILITY_WINDOW_MS,
  DEFAULT_INTERVAL_MS,
  DEFAULT_HSDIR_UPTIME_MS,
  DEFAULT_STABLE_AFTER_MS,
  startDirectory,
} from "./server.js";
import { parseCommandLine, parseHostPortFlag, UsageError } from "../common/cli.js";
import { DEFAULT_TIME_PERIOD_PARAMS, onionServicePeriodsOf, type TimePeriodParams } from "../onion/hs/time-period.js";

const USAGE = `Usage: meowonion directory --listen HOST:PORT --data-dir DIR [options]

Runs a directory authority: relays publish descriptors and heartbeats to it, it tests their
reachability, votes with its peers and serves a signed consensus (Connect, gRPC and gRPC-Web
over HTTP/2 cleartext and HTTP/1.1, with gRPC reflection).

Options:
  --listen HOST:PORT          address to serve on; port 0 picks a free one ([::1]:PORT for IPv6)
  --data-dir DIR              key and state; the authority key is created here on first start
  --peer URL#HEXKEY           another authority, e.g. http://127.0.0.1:7001#<64 hex chars>;
                              repeat for each peer (every authority must list all the others)
  --interval SECONDS          voting period (default ${DEFAULT_INTERVAL_MS / 1000})
  --heartbeat-timeout SECONDS a relay silent this long is no longer Running (default ${DEFAULT_HEARTBEAT_TIMEOUT_MS / 1000})
  --reachability-window SECONDS
                              a passed reachability test counts this long; relays are re-tested
                              after a quarter to a half of it (default ${DEFAULT_REACHABILITY_WINDOW_MS / 1000})
  --stable-after SECONDS      Running this long earns the Stable flag (default ${DEFAULT_STABLE_AFTER_MS / 1000})
  --hsdir-after SECONDS       Running this long (and Stable) earns the HSDir flag (default ${DEFAULT_HSDIR_UPTIME_MS / 1000});
                              0: every relay that offers to store onion-service descriptors
  --hs-period-minutes N       onion-service time period, minutes (default ${DEFAULT_TIME_PERIOD_PARAMS.lengthMinutes}; the
                              rotation offset is half of it, as Tor's 1440/720)
  -h, --help                  show this help

Prints "directory ready url=http://HOST:PORT key=HEX" on stdout once listening.
`;

export async function main(argv: string[]): Promise<void> {
  const config = parseCommandLine("directory", USAGE, argv, parse);
  if (config === undefined) return;

  let server;
  try {
    server = await startDirectory(config);
  } catch (err) {
    process.stderr.write(`meowonion directory: cannot start: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  if (server.keyCreated) {
    process.stderr.write(`meowonion directory: created authority key ${server.keyPath} (public key ${hex(server.publicKey)})\n`);
  }
  process.stdout.write(`directory ready url=${server.url} key=${hex(server.publicKey)}\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.stderr.write(`meowonion directory: ${signal}, shutting down\n`);
  await server.close();
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      listen: { type: "string" },
      "data-dir": { type: "string" },
      peer: { type: "string", multiple: true },
      interval: { type: "string" },
      "heartbeat-timeout": { type: "string" },
      "reachability-window": { type: "string" },
      "stable-after": { type: "string" },
      "hsdir-after": { type: "string" },
      "hs-period-minutes": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  if (values.listen === undefined) throw new UsageError("--listen HOST:PORT is required");
  if (values["data-dir"] === undefined) throw new UsageError("--data-dir DIR is required");
  const { host, port } = parseHostPortFlag("--listen", values.listen);
  return {
    host,
    port,
    dataDir: values["data-dir"],
    peers: (values.peer ?? []).map(parsePeer),
    intervalMs: seconds(values.interval, "--interval", DEFAULT_INTERVAL_MS),
    heartbeatTimeoutMs: seconds(values["heartbeat-timeout"], "--heartbeat-timeout", DEFAULT_HEARTBEAT_TIMEOUT_MS),
    reachabilityWindowMs: seconds(values["reachability-window"], "--reachability-window", DEFAULT_REACHABILITY_WINDOW_MS),
    stableAfterMs: seconds(values["stable-after"], "--stable-after", DEFAULT_STABLE_AFTER_MS),
    hsDirUptimeMs: seconds(values["hsdir-after"], "--hsdir-after", DEFAULT_HSDIR_UPTIME_MS, { allowZero: true }),
    onionServicePeriods: periodsFlag(values["hs-period-minutes"]),
  };
}


function parsePeer(text: string): PeerConfig {
  const hash = text.lastIndexOf("#");
  const url = text.slice(0, hash);
  const keyHex = text.slice(hash + 1);
  if (hash < 0 || !/^[0-9a-fA-F]{64}$/.test(keyHex)) {
    throw new UsageError(`--peer ${JSON.stringify(text)} must be URL#HEXKEY with a 64-hex-character key`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--peer ${JSON.stringify(text)}: ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== "http:") throw new UsageError(`--peer ${JSON.stringify(text)}: only http:// (h2c) URLs are supported`);
  return { url: url.replace(/\/+$/, ""), key: Buffer.from(keyHex, "hex") };
}

function seconds(text: string | undefined, flag: string, fallbackMs: number, options: { allowZero?: boolean } = {}): number {
  if (text === undefined) return fallbackMs;
  const value = Number(text);
  const low = options.allowZero === true ? value < 0 : value <= 0;
  if (text.trim() === "" || !Number.isFinite(value) || low) {
    throw new UsageError(`${flag} ${JSON.stringify(text)} must be a ${options.allowZero === true ? "non-negative" : "positive"} number of seconds`);
  }
  return Math.round(value * 1000);
}

function periodsFlag(text: string | undefined): TimePeriodParams {
  if (text === undefined) return DEFAULT_TIME_PERIOD_PARAMS;
  const lengthMinutes = Number(text);
  if (!/^\d+$/.test(text) || lengthMinutes < 1) throw new UsageError(`--hs-period-minutes ${JSON.stringify(text)} must be a whole number of minutes, at least 1`);
  return onionServicePeriodsOf(lengthMinutes);
}
