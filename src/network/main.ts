/**
 * `meowonion network`: what `npm start` runs. Starts a whole local network (see network.ts),
 * prints how to use it and a final machine-readable line
 *   network ready socks=HOST:PORT control=http://HOST:PORT http=http://HOST:PORT echo=HOST:PORT [onion-echo=ADDR.meow:7 onion-http=ADDR.meow:80]
 * (the onion fields with at least 4 relays; read it as KEY=VALUE tokens, more may follow), then shows the terminal UI (unless --headless or stdout is not a terminal). Ctrl-C / SIGTERM
 * (or q in the UI) stops every node; no process outlives it.
 */
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { rootLogger, silentLogger } from "../common/log.js";
import { liveChildren } from "./child.js";
import { generatedSha256 } from "./destination.js";
import {
  DEFAULT_AUTHORITIES,
  DEFAULT_EXITS,
  DEFAULT_RELAYS,
  startNetwork,
  THREADS_FROM_RELAYS,
  type RunningNetwork,
} from "./network.js";

const USAGE = `Usage: meowonion network [options]

Starts a whole MeowOnion network on 127.0.0.1: directory authorities, relays (some of them
exits that may reach only 127.0.0.0/8), an onion proxy, and a destination to talk to (a meow
echo server and an HTTP server with generated files). Fresh temporary data directories are
removed at exit unless --data-dir is given.

Options:
  --relays N          relays to start (default ${DEFAULT_RELAYS}, at least 3)
  --authorities N     directory authorities, peered with each other (default ${DEFAULT_AUTHORITIES})
  --exits N           how many of the relays are exits (default ${DEFAULT_EXITS}, at least 2)
  --socks HOST:PORT   the proxy's SOCKS5/HTTP CONNECT port (default 127.0.0.1:9050, or any
                      free port if 9050 is taken)
  --control HOST:PORT the proxy's ControlService (default 127.0.0.1:9051, or any free port)
  --processes         run each node as its own OS process (logs in DATA/logs/), as in a real
                      deployment; default: every node in this process
  --threads N         in this process, run the authorities and relays on N worker threads
                      so that the network uses several cores (0: every node on the main
                      thread); default: automatic, one per core from ${THREADS_FROM_RELAYS} relays on, else 0
  --data-dir DIR      keep node state (keys, guards, logs) in DIR, kept at exit
  --headless          no terminal UI (also implied when stdout is not a terminal)
  -h, --help          this help
`;

const DEFAULT_SOCKS_PORT = 9050;
const DEFAULT_CONTROL_PORT = 9051;

/** "127.0.0.1:PORT" if the port is free now, else "127.0.0.1:0" (any free port). */
async function preferredAddress(port: number): Promise<string> {
  const free = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
  return `127.0.0.1:${free ? port : 0}`;
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} wants a whole number, got '${value}'`);
  return n;
}

/** The lines telling a user how to use the running network. */
export function usageLines(net: RunningNetwork): string[] {
  const http = net.httpUrl;
  const kb = `${http}/bytes/1024`;
  return [
    "",
    "Try it (a file through three relays; /bytes/N serves N deterministic bytes):",
    `  curl --socks5-hostname ${net.socksAddress} ${kb} | sha256sum`,
    `  curl -p -x http://${net.socksAddress} ${kb} | sha256sum`,
    `  (expected: ${generatedSha256(1024)})`,
    "",
    `Meow echo server (each line comes back with a cat sound): ${net.echoAddress}`,
    `  printf 'hello cat\\n' | curl -sN --max-time 2 --socks5-hostname ${net.socksAddress} telnet://${net.echoAddress}`,
    "",
    ...onionServiceLines(net),
    "",
    "See the network in a browser (relays, flags, consensus and signatures; live):",
    ...net.authorities.map((a) => `  ${a.url}/`),
    "",
    "Watch and steer the proxy (ControlService):",
    `  npx buf curl --schema proto --http2-prior-knowledge --data '{}' ${net.controlUrl}/meowonion.v1.ControlService/ListCircuits`,
    "",
  ];
}

/** How to reach the network's onion services by name (nobody learns where they run). */
function onionServiceLines(net: RunningNetwork): string[] {
  const http = net.onionServices.find((s) => s.name === "http");
  const echo = net.onionServices.find((s) => s.name === "echo");
  const lines = ["Onion services (.meow: reached by name through a rendezvous point):"];
  if (http !== undefined) {
    lines.push(`  HTTP  ${http.address}`, `  curl --socks5-hostname ${net.socksAddress} http://${http.address}/bytes/1024 | sha256sum`);
  }
  if (echo !== undefined) {
    lines.push(`  echo  ${echo.address}`, `  printf 'hello cat\\n' | curl -sN --max-time 5 --socks5-hostname ${net.socksAddress} telnet://${echo.address}:${echo.port}`);
  }
  return lines;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      relays: { type: "string" },
      authorities: { type: "string" },
      exits: { type: "string" },
      socks: { type: "string" },
      control: { type: "string" },
      processes: { type: "boolean", default: false },
      threads: { type: "string" },
      "data-dir": { type: "string" },
      headless: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
}

export async function main(argv: string[]): Promise<void> {
  let values: ReturnType<typeof parse>;
  try {
    values = parse(argv);
  } catch (err) {
    process.stderr.write(`meowonion network: ${(err as Error).message}\n(see meowonion network --help)\n`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const tui = !values.headless && process.stdout.isTTY === true;
  // Nodes log JSON lines to stderr, which would scribble over the terminal UI: under the UI,
  // this process logs nothing (node processes still log, to DATA/logs/ with --processes).
  const childEnv = { MEOWONION_LOG_LEVEL: process.env.MEOWONION_LOG_LEVEL ?? "info" };
  const logger = tui ? silentLogger() : rootLogger();

  let net: RunningNetwork | undefined;
  let starting: Promise<RunningNetwork> | undefined;
  let stopping: Promise<void> | undefined;
  let unmountTui: (() => void) | undefined;
  const abortStart = new AbortController();
  const stop = (code: number) =>
    (stopping ??= (async () => {
      unmountTui?.();
      process.stderr.write("meowonion network: stopping…\n");
      // Stopped while starting: startNetwork stops what it started, then rejects.
      abortStart.abort();
      const running = net ?? (await starting?.catch(() => undefined));
      await running?.close();
      process.exit(code);
    })());
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      // A second Ctrl-C: do not wait for graceful shutdowns.
      for (const child of liveChildren.values()) child.kill("SIGKILL");
      process.exit(130);
    }
    void stop(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);

  const say = (line: string) => process.stdout.write(`${line}\n`);
  const startedAt = performance.now();
  try {
    net = await (starting = startNetwork({
      relays: positiveInt("relays", values.relays),
      authorities: positiveInt("authorities", values.authorities),
      exits: positiveInt("exits", values.exits),
      socks: values.socks ?? (await preferredAddress(DEFAULT_SOCKS_PORT)),
      control: values.control ?? (await preferredAddress(DEFAULT_CONTROL_PORT)),
      processes: values.processes,
      threads: positiveInt("threads", values.threads),
      dataDir: values["data-dir"],
      childEnv,
      logger,
      signal: abortStart.signal,
      onProgress: say,
    }));
  } catch (err) {
    if (stopping) return; // a signal arrived while starting
    process.stderr.write(`meowonion network: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  if (stopping) return;

  const mode = net.processes
    ? "each node its own process"
    : `all nodes in this process${net.threads > 0 ? `, authorities and relays on ${net.threads} worker thread${net.threads === 1 ? "" : "s"}` : ""}`;
  const took = ((performance.now() - startedAt) / 1000).toFixed(1);
  say(`MeowOnion network up in ${took} s (${mode}), data in ${net.dataDir}${values["data-dir"] ? "" : " (removed at exit)"}`);
  for (const a of net.authorities) say(`  authority ${a.name.padEnd(10)} ${a.url}  key=${a.key}${a.pid ? `  pid=${a.pid}` : ""}`);
  for (const r of net.relays) {
    say(`  relay     ${r.nickname.padEnd(10)} ${r.orAddress.padEnd(16)} ${r.exit ? "exit " : "     "}${r.pid ? ` pid=${r.pid}` : ""}`);
  }
  say(`  proxy     socks=${net.socksAddress} control=${net.controlUrl}${net.proxyPid ? `  pid=${net.proxyPid}` : ""}`);
  for (const s of net.onionServices) say(`  service   ${s.name.padEnd(10)} ${s.address}:${s.port}${s.pid ? `  pid=${s.pid}` : ""}`);
  for (const line of usageLines(net)) say(line);
  const onion = net.onionServices.map((s) => ` onion-${s.name}=${s.address}:${s.port}`).join("");
  say(`network ready socks=${net.socksAddress} control=${net.controlUrl} http=${net.httpUrl} echo=${net.echoAddress}${onion}`);

  if (!tui) {
    say("Press Ctrl-C to stop.");
    return; // signals stop it
  }
  const { startTui } = await import("../proxy/tui/index.js");
  const catService = net.onionServices.find((s) => s.name === "echo");
  const ui = await startTui({
    controlUrl: net.controlUrl,
    socksAddress: net.socksAddress,
    // The cat's onion address: messages reach the echo server by name, through a rendezvous point.
    defaultDestination: catService === undefined ? net.echoAddress : `${catService.address}:${catService.port}`,
  });
  unmountTui = () => ui.unmount();
  await ui.waitUntilExit();
  await stop(0);
}
