/**
 * `meowonion proxy`: run an onion proxy until SIGINT/SIGTERM (or, with the terminal UI, until
 * the user quits it). Headless, stdout carries exactly one line, once the SOCKS port listens
 * and the first circuit is open, for other tools to parse:
 *   proxy ready socks=HOST:PORT control=http://HOST:PORT
 * With the terminal UI (a TTY and no --headless) the UI owns stdout and shows the same.
 * Logs go to stderr.
 */
import { parseArgs } from "node:util";
import { checkHopCount, MAX_HOPS } from "../onion/circuit-limits.js";
import { DEFAULT_HOPS } from "./path.js";
import { type ProxyOptions, startProxy } from "./proxy.js";
import { parseCommandLine, parseDirectoryFlags, parseHostPortFlag, UsageError } from "../common/cli.js";

const DEFAULT_SOCKS = "127.0.0.1:9050";
const DEFAULT_CONTROL = "127.0.0.1:9051";

const USAGE = `Usage: meowonion proxy --directory URL --directory-key HEXKEY [...] [options]

Runs an onion proxy: follows the consensus of the directory authorities, keeps circuits ready,
and serves SOCKS5, SOCKS4a and HTTP CONNECT on one port, plus the ControlService.

Options:
  --directory URL          a directory authority, e.g. http://127.0.0.1:7000 (repeatable)
  --directory-key HEXKEY   its Ed25519 key, 64 hex characters; one per --directory, in order
  --socks HOST:PORT        SOCKS5/SOCKS4a/HTTP CONNECT listener (default ${DEFAULT_SOCKS}; port 0: any)
  --control HOST:PORT      ControlService listener (default ${DEFAULT_CONTROL}; port 0: any)
  --data-dir DIR           keep the entry guards here (default: in memory, new guards each run)
  --hops N                 relays per circuit, 1..${MAX_HOPS} (default ${DEFAULT_HOPS})
  --allow-same-subnet      allow relays of one IPv4 /16 in a circuit (loopback test networks)
  --no-congestion-control  keep the fixed SENDME windows even with exits that offer congestion control
  --headless               no terminal UI (also when stdout is not a terminal)
  -h, --help               show this help

Prints "proxy ready socks=HOST:PORT control=http://HOST:PORT" on stdout once the first
circuit is open (headless).
`;

interface Config {
  options: ProxyOptions;
  headless: boolean;
}

export async function main(argv: string[]): Promise<void> {
  const config = parseCommandLine("proxy", USAGE, argv, parse);
  if (config === undefined) return;

  let proxy;
  try {
    proxy = await startProxy(config.options);
  } catch (err) {
    process.stderr.write(`meowonion proxy: cannot start: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  let unmountUi: (() => void) | undefined;
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    unmountUi?.(); // give the terminal back (raw mode off) before anything else
    process.stderr.write(`meowonion proxy: ${why}, shutting down\n`);
    await proxy.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));

  const controlUrl = proxy.controlUrl ?? "";
  if (config.headless || !process.stdout.isTTY) {
    try {
      await proxy.ready;
    } catch {
      return; // closed by a signal while bootstrapping
    }
    process.stdout.write(`proxy ready socks=${proxy.socksAddress} control=${controlUrl}\n`);
    return; // runs until a signal
  }
  const { startTui } = await import("./tui/index.js");
  const ui = await startTui({ controlUrl, socksAddress: proxy.socksAddress });
  unmountUi = () => ui.unmount();
  await ui.waitUntilExit();
  await shutdown("terminal UI closed");
}

function parse(argv: string[]): Config | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      directory: { type: "string", multiple: true },
      "directory-key": { type: "string", multiple: true },
      socks: { type: "string" },
      control: { type: "string" },
      "data-dir": { type: "string" },
      hops: { type: "string" },
      "allow-same-subnet": { type: "boolean" },
      "no-congestion-control": { type: "boolean" },
      headless: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  const directories = parseDirectoryFlags(values.directory, values["directory-key"]);
  let hops = DEFAULT_HOPS;
  if (values.hops !== undefined) {
    hops = /^\d+$/.test(values.hops) ? Number(values.hops) : NaN;
    try {
      checkHopCount(hops);
    } catch (err) {
      throw new UsageError(`--hops: ${(err as Error).message}`);
    }
  }
  return {
    headless: values.headless ?? false,
    options: {
      directories,
      socks: parseHostPortFlag("--socks", values.socks ?? DEFAULT_SOCKS),
      control: parseHostPortFlag("--control", values.control ?? DEFAULT_CONTROL),
      dataDir: values["data-dir"],
      hops,
      enforceDistinctSubnets: !values["allow-same-subnet"],
      circuits: { congestionControl: !values["no-congestion-control"] },
    },
  };
}

