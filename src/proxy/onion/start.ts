/**
 * `startOnionService`: an onion service as a node of its own, next to startRelay and
 * startProxy: a client stack without a SOCKS port (consensus, guards, circuits) running one
 * service whose identity key lives in its data directory (mode 0600, made once, never
 * replaced), so the address survives restarts.
 */
import { join } from "node:path";
import type { Logger } from "../../common/log.js";
import { loadOrCreateKey } from "../../common/key-store.js";
import { generateEd25519KeyPair } from "../../onion/signing.js";
import type { DirectoryPin } from "../consensus.js";
import { type ProxyHandle, startProxy } from "../proxy.js";
import type { OnionService, OnionServiceOptions } from "./service.js";
import type { OnionServicePort } from "./service-targets.js";

/** The identity key file of a service's data directory. */
export const ONION_SERVICE_KEY_FILE = "hs_ed25519_identity.key";

export interface OnionServiceNodeOptions {
  directories: DirectoryPin[];
  /** The identity key (and the client's guards) live here. */
  dataDir: string;
  ports: OnionServicePort[];
  /** Refuse two relays of one IPv4 /16 in a circuit. Default true; off for loopback networks. */
  enforceDistinctSubnets?: boolean;
  /** The ControlService listener (the service's circuits, AddOnionService for more); none when undefined. */
  control?: { host: string; port: number };
  tuning?: Omit<OnionServiceOptions, "identitySeed" | "ports" | "log">;
  logger?: Logger;
}

export interface OnionServiceHandle {
  /** `<56 characters>.meow`. */
  readonly address: string;
  readonly service: OnionService;
  /** The client stack the service runs on. */
  readonly proxy: ProxyHandle;
  close(): Promise<void>;
}

/** The service's identity seed from `dataDir`, made (0600) if there is none. */
export async function loadOnionServiceSeed(dataDir: string): Promise<Uint8Array> {
  const { secret } = await loadOrCreateKey(join(dataDir, ONION_SERVICE_KEY_FILE), "ed25519-identity-secret", () => generateEd25519KeyPair().privateKey);
  return secret;
}

/** Start the service; resolves once its descriptor is on at least one HSDir. */
export async function startOnionService(options: OnionServiceNodeOptions): Promise<OnionServiceHandle> {
  const identitySeed = await loadOnionServiceSeed(options.dataDir);
  const proxy = await startProxy({
    directories: options.directories,
    dataDir: options.dataDir,
    control: options.control,
    enforceDistinctSubnets: options.enforceDistinctSubnets,
    logger: options.logger,
  });
  try {
    const service = await proxy.addOnionService({ ports: options.ports, identitySeed, tuning: options.tuning });
    return { address: service.address, service, proxy, close: () => proxy.close() };
  } catch (error) {
    await proxy.close();
    throw error;
  }
}
