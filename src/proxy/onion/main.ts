/**
 * `meowonion service`: run an onion service until SIGINT/SIGTERM. stdout carries exactly one
 * line, once the descriptor is on an HSDir, for other tools to parse:
 *   service ready address=<56 characters>.meow port=80,443
 * Logs go to stderr.
 */
import { parseArgs } from "node:util";
import { parseCommandLine, parseDirectoryFlags, parseHostPortFlag, UsageError } from "../../common/cli.js";
import { MeowOnionError } from "../../onion/errors.js";
import { type OnionServiceNodeOptions, startOnionService } from "./start.js";
import { checkOnionServicePorts, parseOnionServicePort } from "./service-targets.js";

const USAGE = `Usage: meowonion service --directory URL --directory-key HEXKEY --data-dir DIR --port VIRT[:TARGET] [...]

Runs an onion service: keeps introduction points, publishes its descriptor to the HSDirs and
connects the streams of clients who reach <address>.meow:VIRT to TARGET. The address is the
identity key kept in DIR (made on first start, mode 0600), so it stays the same across restarts.

Options:
  --directory URL          a directory authority, e.g. http://127.0.0.1:7000 (repeatable)
  --directory-key HEXKEY   its Ed25519 key, 64 hex characters; one per --directory, in order
  --data-dir DIR           the service's identity key and the client's guards
  --port VIRT[:TARGET]     a virtual port and where its streams go: 80:127.0.0.1:8080, 80:8080
                           (on 127.0.0.1), or 80 (to --target); repeatable, as Tor's HiddenServicePort
  --target HOST:PORT       where ports given without a target go (default 127.0.0.1:VIRT)
  --control HOST:PORT      ControlService listener (default: none)
  --allow-same-subnet      allow relays of one IPv4 /16 in a circuit (loopback test networks)
  -h, --help               show this help

Prints "service ready address=ADDRESS.meow port=VIRT[,VIRT...]" on stdout once published.
`;

export async function main(argv: string[]): Promise<void> {
  const options = parseCommandLine("service", USAGE, argv, parse);
  if (options === undefined) return;

  const started = startOnionService(options);
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`meowonion service: ${why}, shutting down\n`);
    await (await started.catch(() => undefined))?.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  let handle;
  try {
    handle = await started;
  } catch (err) {
    if (stopping) return;
    process.stderr.write(`meowonion service: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`service ready address=${handle.address} port=${options.ports.map((p) => p.virtualPort).join(",")}\n`);
}

function parse(argv: string[]): OnionServiceNodeOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      directory: { type: "string", multiple: true },
      "directory-key": { type: "string", multiple: true },
      "data-dir": { type: "string" },
      port: { type: "string", multiple: true },
      target: { type: "string" },
      control: { type: "string" },
      "allow-same-subnet": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  if (values["data-dir"] === undefined) throw new UsageError("--data-dir DIR is required (the service's identity key lives there)");
  if (values.port === undefined) throw new UsageError("at least one --port VIRT[:TARGET] is required");
  const defaultTarget = values.target === undefined ? undefined : parseHostPortFlag("--target", values.target);
  let ports;
  try {
    ports = values.port.map((p) => parseOnionServicePort(p, defaultTarget));
    checkOnionServicePorts(ports);
  } catch (error) {
    if (error instanceof MeowOnionError) throw new UsageError(`--port: ${error.message}`);
    throw error;
  }
  return {
    directories: parseDirectoryFlags(values.directory, values["directory-key"]),
    dataDir: values["data-dir"],
    ports,
    control: values.control === undefined ? undefined : parseHostPortFlag("--control", values.control),
    enforceDistinctSubnets: !values["allow-same-subnet"],
  };
}
