/**
 * Linux network namespaces for multi-host tests: one namespace holds a bridge, every node gets
 * its own namespace joined to the bridge by a veth pair, with its own address in a small
 * private subnet. All interfaces are created INSIDE our namespaces (`ip -n`), nothing is added
 * to the host's own namespace, and nothing routes out of the bridge: traffic stays between
 * the namespaces the test created. Names carry our PID so parallel runs never collide, and
 * stale namespaces of dead runs are removed.
 */
import { execFile, execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { promisify } from "node:util";
import path from "node:path";
import { ROOT } from "./procs.js";

const run = promisify(execFile);
const PREFIX = "mo";

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run("ip", args, { timeout: 15_000 });
  return stdout;
}

/** Why namespaces cannot be used here, or undefined when they can (installs iproute2 if needed). */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "network namespaces need root (run the tests as root, as CI does)";
  try {
    execFileSync("bash", [path.join(ROOT, "scripts/ensure-iproute2.sh")], { stdio: "pipe", timeout: 300_000 });
  } catch (error) {
    return `iproute2 is not available and could not be installed: ${(error as Error).message}`;
  }
  const probe = `${PREFIX}-probe-${process.pid}`;
  try {
    execFileSync("ip", ["netns", "add", probe], { stdio: "pipe" });
    execFileSync("ip", ["-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"], { stdio: "pipe" });
  } catch (error) {
    return `cannot create a network namespace with a veth pair here: ${((error as { stderr?: Buffer }).stderr?.toString() || (error as Error).message).trim()}`;
  } finally {
    try {
      execFileSync("ip", ["netns", "del", probe], { stdio: "pipe" });
    } catch {
      // was never created
    }
  }
  return undefined;
}

/** Remove namespaces left behind by earlier runs whose process is gone. */
export async function removeStaleNamespaces(): Promise<void> {
  let names: string[] = [];
  try {
    names = readdirSync("/run/netns");
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (!alive) await ip("netns", "del", name).catch(() => undefined);
  }
}

export interface Lan {
  /** Namespace of each node, by role. */
  ns: Record<string, string>;
  /** Address of each node, by role. */
  addr: Record<string, string>;
  subnet: string;
  destroy(): Promise<void>;
}

/**
 * A bridge namespace and one namespace per role, each with address `${base}.${10 + i}`/24.
 * Example: createLan(["dir", "relay0", "proxy"], "10.77.0").
 */
export async function createLan(roles: string[], base = "10.77.0"): Promise<Lan> {
  const tag = `${PREFIX}-${process.pid}`;
  const bridge = `${tag}-br`;
  const created: string[] = [];
  const destroy = async () => {
    for (const name of [...created].reverse()) await ip("netns", "del", name).catch(() => undefined);
  };
  try {
    await ip("netns", "add", bridge);
    created.push(bridge);
    await ip("-n", bridge, "link", "add", "br0", "type", "bridge");
    await ip("-n", bridge, "link", "set", "br0", "up");
    const ns: Record<string, string> = {};
    const addr: Record<string, string> = {};
    for (const [i, role] of roles.entries()) {
      const name = `${tag}-${role}`;
      await ip("netns", "add", name);
      created.push(name);
      const port = `v${i}`;
      // The pair is created inside the bridge namespace and one end moved into the node's.
      await ip("-n", bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name);
      await ip("-n", bridge, "link", "set", port, "master", "br0");
      await ip("-n", bridge, "link", "set", port, "up");
      const address = `${base}.${10 + i}`;
      await ip("-n", name, "addr", "add", `${address}/24`, "dev", "eth0");
      await ip("-n", name, "link", "set", "eth0", "up");
      await ip("-n", name, "link", "set", "lo", "up");
      ns[role] = name;
      addr[role] = address;
    }
    return { ns, addr, subnet: `${base}.0/24`, destroy };
  } catch (error) {
    await destroy();
    throw error;
  }
}
