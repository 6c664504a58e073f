/**
 * In-process nodes for `startNetwork()` (the default mode): directory authorities, relays and
 * the proxy run in this process through their library start functions, each reporting the
 * same fields its command prints on its ready line.
 */
import { parseHostPort } from "../common/host-port.js";
import type { Logger } from "../common/log.js";
import { startDirectory } from "../directory/server.js";
import { startProxy } from "../proxy/proxy.js";
import { startRelay } from "../relay/relay.js";
import { startOnionService } from "../proxy/onion/start.js";
import { parseOnionServicePort } from "../proxy/onion/service-targets.js";
import { LOCAL_TIMING, type Launcher, type ScaledTiming } from "./launcher.js";
import { onionServicePeriodsOf } from "../onion/hs/time-period.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** `starting`, or `message` as an error after `ms`; a node that is ready only after that is stopped. */
function readyWithin<T extends { close(): Promise<void> }>(starting: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new Error(message));
    }, ms);
    starting.then(
      (node) => {
        clearTimeout(timer);
        if (late) void node.close();
        else resolve(node);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}

export function inProcessLauncher(
  readyTimeoutMs: number,
  logger?: Logger,
  timing: ScaledTiming = LOCAL_TIMING,
): Launcher {
  return {
    directory: async (o) => {
      const { host, port } = parseHostPort(o.listen);
      const server = await startDirectory({
        host,
        port,
        dataDir: o.dataDir,
        peers: o.peers.map((p) => {
          const hash = p.lastIndexOf("#");
          return { url: p.slice(0, hash), key: Buffer.from(p.slice(hash + 1), "hex") };
        }),
        intervalMs: timing.intervalS * 1000,
        heartbeatTimeoutMs: timing.heartbeatTimeoutS * 1000,
        stableAfterMs: LOCAL_TIMING.stableAfterS * 1000,
        hsDirUptimeMs: LOCAL_TIMING.hsDirAfterS * 1000,
        onionServicePeriods: onionServicePeriodsOf(LOCAL_TIMING.hsPeriodMinutes),
        logger,
      });
      return { fields: { url: server.url, key: hex(server.publicKey) }, stop: () => server.close() };
    },
    relay: async (o) => {
      const { host, port } = parseHostPort(o.listen);
      const relay = await startRelay({
        host,
        port,
        dataDir: o.dataDir,
        directories: o.directories.map((d) => ({ url: d.url, key: Buffer.from(d.key, "hex") })),
        nickname: o.nickname,
        exitPolicy: o.exitPolicy,
        outboundAddress: o.outboundAddress,
        publishSpreadMs: o.publishSpreadMs,
        heartbeatSeconds: timing.relayHeartbeatS,
        logger,
      });
      return {
        fields: { or: `${relay.host}:${relay.port}`, identity: hex(relay.identityKey), nickname: relay.nickname },
        stop: () => relay.close(),
      };
    },
    proxy: async (o) => {
      const proxy = await startProxy({
        directories: o.directories.map((d) => ({ url: d.url, key: Buffer.from(d.key, "hex") })),
        socks: parseHostPort(o.socks),
        control: parseHostPort(o.control),
        dataDir: o.dataDir,
        enforceDistinctSubnets: !o.allowSameSubnet,
        logger,
      });
      // Ready, like the command's ready line, once the first circuit is open.
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          proxy.ready,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`proxy: no circuit open within ${readyTimeoutMs} ms`)), readyTimeoutMs);
          }),
        ]);
      } catch (err) {
        await proxy.close();
        throw err;
      } finally {
        clearTimeout(timer);
      }
      return { fields: { socks: proxy.socksAddress, control: proxy.controlUrl ?? "" }, stop: () => proxy.close() };
    },
    service: async (o) => {
      const ports = o.ports.map((p) => parseOnionServicePort(p));
      const service = await readyWithin(
        startOnionService({
          directories: o.directories.map((d) => ({ url: d.url, key: Buffer.from(d.key, "hex") })),
          dataDir: o.dataDir,
          ports,
          enforceDistinctSubnets: !o.allowSameSubnet,
          logger,
        }),
        readyTimeoutMs,
        `${o.name}: descriptor not published within ${readyTimeoutMs} ms`,
      );
      return { fields: { address: service.address, port: ports.map((p) => p.virtualPort).join(",") }, stop: () => service.close() };
    },
  };
}
