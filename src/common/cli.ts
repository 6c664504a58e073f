/**
 * What every `meowonion` subcommand shares when reading its command line: usage errors
 * (exit status 2 with a hint), `--help`, and HOST:PORT arguments.
 */
import { MeowOnionError } from "../onion/errors.js";
import { parseHostPort } from "./host-port.js";

/** A command-line mistake: printed with the usage hint, exit status 2. */
export class UsageError extends MeowOnionError {
  override readonly name = "UsageError";

  constructor(message: string) {
    super("invalid-argument", message);
  }
}

/**
 * Runs `parse` (which returns undefined for --help). Prints usage or the mistake and returns
 * undefined when the command should not start.
 */
export function parseCommandLine<T>(command: string, usage: string, argv: string[], parse: (argv: string[]) => T | undefined): T | undefined {
  let parsed: T | undefined;
  try {
    parsed = parse(argv);
  } catch (err) {
    const usage = (err instanceof MeowOnionError && err.kind === "invalid-argument") || (err as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS");
    if (!usage) throw err;
    process.stderr.write(`meowonion ${command}: ${(err as Error).message}\n(see meowonion ${command} --help)\n`);
    process.exitCode = 2;
    return undefined;
  }
  if (parsed === undefined) process.stdout.write(usage);
  return parsed;
}

/** A flag's "HOST:PORT" or "[IPv6]:PORT" value, port 0..65535. */
export function parseHostPortFlag(flag: string, text: string): { host: string; port: number } {
  try {
    return parseHostPort(text);
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(text)} must be HOST:PORT (port 0-65535)`);
  }
}

/** The --directory URL / --directory-key HEXKEY pairs of a node that follows the authorities. */
export function parseDirectoryFlags(urls: string[] = [], keys: string[] = []): { url: string; key: Uint8Array }[] {
  if (urls.length === 0) throw new UsageError("at least one --directory URL with its --directory-key is required");
  if (urls.length !== keys.length) throw new UsageError(`${urls.length} --directory but ${keys.length} --directory-key: give one key per directory`);
  return urls.map((url, i) => {
    if (!/^[0-9a-fA-F]{64}$/.test(keys[i])) throw new UsageError(`--directory-key ${JSON.stringify(keys[i])} must be 64 hex characters`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--directory ${JSON.stringify(url)} is not a URL`);
    }
    if (parsed.protocol !== "http:") throw new UsageError(`--directory ${JSON.stringify(url)}: only http:// URLs are supported`);
    return { url: url.replace(/\/+$/, ""), key: Buffer.from(keys[i], "hex") };
  });
}
