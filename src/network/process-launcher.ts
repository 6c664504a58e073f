/**
 * The `--processes` mode of `startNetwork()`: every node its own OS process, started through
 * the command line with the local network's timing, its stderr in DATA/logs/.
 */
import { join } from "node:path";
import { type ChildNode, PROXY_NODE_FLAGS, spawnNode } from "./child.js";
import { LOCAL_DIRECTORY_ARGS, LOCAL_RELAY_ARGS, LOCAL_TIMING, type Launcher, type NodeHandle, type ScaledTiming } from "./launcher.js";

function directoryArgs(d: { listen: string; dataDir: string; peers: string[] }, timing: ScaledTiming): string[] {
  return [
    "--listen", d.listen, "--data-dir", d.dataDir, ...d.peers.flatMap((p) => ["--peer", p]), ...LOCAL_DIRECTORY_ARGS,
    // Later flags win: the scaled timing over LOCAL_DIRECTORY_ARGS's.
    "--interval", String(timing.intervalS), "--heartbeat-timeout", String(timing.heartbeatTimeoutS),
  ];
}

function directoriesArgs(dirs: { url: string; key: string }[]): string[] {
  return dirs.flatMap((d) => ["--directory", d.url, "--directory-key", d.key]);
}

/** Runs every node as its own process (see child.ts) with its stderr in DATA/logs/. */
export function processLauncher(
  logDir: string,
  readyTimeoutMs: number,
  env?: NodeJS.ProcessEnv,
  timing: ScaledTiming = LOCAL_TIMING,
): Launcher {
  const run = async (name: string, kind: string, args: string[], nodeFlags?: readonly string[]): Promise<NodeHandle> => {
    const child: ChildNode = await spawnNode({
      name,
      kind,
      args,
      logFile: join(logDir, `${name}.log`),
      readyTimeoutMs,
      env,
      nodeFlags,
    });
    return { fields: child.fields, pid: child.pid, stop: () => child.stop() };
  };
  return {
    directory: (o) => run(o.name, "directory", directoryArgs(o, timing)),
    relay: (o) =>
      run(o.name, "relay", [
        "--listen", o.listen,
        ...directoriesArgs(o.directories),
        "--data-dir", o.dataDir,
        "--nickname", o.nickname,
        "--exit-policy", o.exitPolicy,
        ...(o.outboundAddress === undefined ? [] : ["--outbound-address", o.outboundAddress]),
        ...LOCAL_RELAY_ARGS,
        "--heartbeat", String(timing.relayHeartbeatS),
      ]),
    proxy: (o) =>
      run(o.name, "proxy", [
        ...directoriesArgs(o.directories),
        "--socks", o.socks,
        "--control", o.control,
        "--data-dir", o.dataDir,
        ...(o.allowSameSubnet ? ["--allow-same-subnet"] : []),
        "--headless",
      ], PROXY_NODE_FLAGS),
    service: (o) =>
      run(o.name, "service", [
        ...directoriesArgs(o.directories),
        "--data-dir", o.dataDir,
        ...o.ports.flatMap((p) => ["--port", p]),
        ...(o.allowSameSubnet ? ["--allow-same-subnet"] : []),
      ]),
  };
}
