/**
 * Start the suite's reference network (one directory, three relays, the last an exit and the only
 * one that is not an HSDir, and a ControlService that runs onion services), clean or with one
 * mutant's faults.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { hex } from "../lib/bytes.js";
import { RefDirectory } from "../lib/ref/directory.js";
import { RefOnionHost } from "../lib/ref/onion-host.js";
import { RefRelay } from "../lib/ref/relay.js";
import type { Mutant } from "./catalog.js";

const here = dirname(fileURLToPath(import.meta.url));

export interface ReferenceNetwork {
  directory: RefDirectory;
  relays: RefRelay[];
  onionHost: RefOnionHost;
  /** The vector-check command for this mutant (the reference checker, with its fault if any). */
  vectorCheck: string;
  /** The launch lines (README "The --launch line format"). */
  lines(): string[];
  stop(): Promise<void>;
}

export async function startReference(mutant?: Mutant, interval = 2): Promise<ReferenceNetwork> {
  const directory = new RefDirectory({ intervalSeconds: interval, faults: mutant?.directory });
  await directory.start();
  const relays = [1, 2, 3].map(
    (i) =>
      new RefRelay({
        nickname: `ref${i}${i === 3 ? "exit" : ""}`,
        exitPolicy: i === 3 ? "accept 127.0.0.0/8:*,reject *:*" : "",
        directoryUrl: directory.url,
        heartbeatSeconds: 10,
        hsDir: i !== 3,
        faults: mutant?.relay,
      }),
  );
  for (const r of relays) await r.start();
  const onionHost = new RefOnionHost({ url: directory.url, key: directory.key.publicKey }, mutant?.service);
  await onionHost.start();
  const vectorCheck = `${process.execPath} --import tsx ${join(here, "../lib/ref/vector-check.ts")}${mutant?.vector ? ` --fault ${mutant.vector}` : ""}`;
  return {
    directory,
    relays,
    onionHost,
    vectorCheck,
    lines: () => [
      `conformance directory url=${directory.url} key=${hex(directory.key.publicKey)}`,
      ...relays.map((r) => `conformance relay addr=${r.host}:${r.port} identity=${hex(r.identity.publicKey)} onion-key=${hex(r.onionKey.publicKey)} nickname=${r.nickname}`),
      `conformance control url=${onionHost.url}`,
      `conformance feature vectorCheck=${vectorCheck}`,
      "conformance ready",
    ],
    async stop() {
      await onionHost.stop().catch(() => {});
      for (const r of relays) await r.stop().catch(() => {});
      await directory.stop().catch(() => {});
    },
  };
}
