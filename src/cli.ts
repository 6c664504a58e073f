/**
 * `meowonion` command line: one binary, one subcommand per kind of node.
 */
const USAGE = `Usage: meowonion <command> [options]

Commands:
  directory   run a directory authority      (meowonion directory --help)
  relay       run an onion relay             (meowonion relay --help)
  proxy       run an onion proxy (client)    (meowonion proxy --help)
  service     run an onion service (.meow)   (meowonion service --help)
  network     run a whole local network: authority, relays, proxy, destination
  vector-check  answer the conformance suite's vector-check protocol on stdin/stdout
`;

type CommandMain = (argv: string[]) => Promise<void>;

const commands: Record<string, () => Promise<CommandMain>> = {
  directory: async () => (await import("./directory/main.js")).main,
  network: async () => (await import("./network/main.js")).main,
  proxy: async () => (await import("./proxy/main.js")).main,
  relay: async () => (await import("./relay/main.js")).main,
  service: async () => (await import("./proxy/onion/main.js")).main,
  "vector-check": async () => (await import("./vector-check.js")).main,
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const load = commands[name];
  if (load === undefined) {
    process.stderr.write(`meowonion: unknown command '${name}'\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const run = await load();
  await run(rest);
}

await main(process.argv.slice(2));
