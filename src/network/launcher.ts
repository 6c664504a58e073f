/**
 * How `startNetwork()` starts its nodes: one Launcher per mode (in this process, or each node
 * its own OS process), and the timing every node of a local network shares.
 */

/** One started node, however it runs. */
export interface NodeHandle {
  fields: Record<string, string>;
  pid?: number;
  stop(): Promise<void>;
}

/** Starts the kinds of node; one implementation per mode. */
export interface Launcher {
  directory(o: { name: string; listen: string; dataDir: string; peers: string[] }): Promise<NodeHandle>;
  relay(o: {
    name: string;
    listen: string;
    dataDir: string;
    directories: { url: string; key: string }[];
    nickname: string;
    exitPolicy: string;
    /** Source address of its links and directory connections (its own loopback address). */
    outboundAddress?: string;
    /** Its first publication waits a random 0..publishSpreadMs (in-process networks). */
    publishSpreadMs?: number;
  }): Promise<NodeHandle>;
  proxy(o: {
    name: string;
    dataDir: string;
    directories: { url: string; key: string }[];
    socks: string;
    control: string;
    /** Circuits may use two relays of one /16 (when every relay shares 127.0.0.1). */
    allowSameSubnet: boolean;
  }): Promise<NodeHandle>;
  /** An onion service; `ports` as `meowonion service --port` takes them (VIRT:HOST:PORT). Its ready fields carry `address`. */
  service(o: { name: string; dataDir: string; directories: { url: string; key: string }[]; ports: string[]; allowSameSubnet: boolean }): Promise<NodeHandle>;
  /** Releases what the launcher itself holds (worker threads), once every node it started stopped. */
  close?(): Promise<void>;
}

/** Exits of a local network reach only loopback destinations. */
export const LOCAL_EXIT_POLICY = "accept 127.0.0.0/8:*,reject *:*";

/**
 * Timing for a local network, seconds: a 5 s voting period (a view change is voted on within
 * a quarter second), relays heartbeating about every 10 s (authorities refuse more than 10 a
 * minute from one relay) and dropped after 30 s of silence, Stable (hence Guard) after a
 * minute instead of ten, HSDir at once, onion-service periods of 10 minutes instead of a day.
 */
export const LOCAL_TIMING = { intervalS: 5, heartbeatTimeoutS: 30, stableAfterS: 60, relayHeartbeatS: 10, hsDirAfterS: 0, hsPeriodMinutes: 10 };
export const LOCAL_DIRECTORY_ARGS = [
  "--interval", String(LOCAL_TIMING.intervalS),
  "--heartbeat-timeout", String(LOCAL_TIMING.heartbeatTimeoutS),
  "--stable-after", String(LOCAL_TIMING.stableAfterS),
  "--hsdir-after", String(LOCAL_TIMING.hsDirAfterS),
  "--hs-period-minutes", String(LOCAL_TIMING.hsPeriodMinutes),
];
export const LOCAL_RELAY_ARGS = ["--heartbeat", String(LOCAL_TIMING.relayHeartbeatS)];

/** Heartbeat RPCs a second that a local network's authorities are asked to take, at most. */
const MAX_HEARTBEATS_PER_S = 100;

/** The parts of LOCAL_TIMING that grow with a local network's size. */
export interface ScaledTiming {
  intervalS: number;
  relayHeartbeatS: number;
  heartbeatTimeoutS: number;
}

/**
 * A local network's voting period, heartbeat interval and heartbeat timeout for `relays`
 * relays and `authorities` authorities: LOCAL_TIMING's 5 s / 10 s / 30 s, stretched by the
 * same factor so that all relays together send at most MAX_HEARTBEATS_PER_S heartbeats
 * (1,000 relays and 3 authorities: a 15 s period, heartbeats every 30 s, dropped after 90 s;
 * Tor's relays send none and its authorities re-test them every 20 minutes). Every heartbeat
 * is a signed RPC: at 10 s, a thousand relays would keep one core half busy with them alone.
 * The period grows with them: a consensus is valid for three periods, and authorities busy
 * with a thousand relays starting publish a period's consensus seconds late; with 5 s periods
 * it would have expired before clients got it.
 */
export function localTiming(relays: number, authorities: number): ScaledTiming {
  const factor = Math.max(1, Math.ceil((relays * authorities) / (MAX_HEARTBEATS_PER_S * LOCAL_TIMING.relayHeartbeatS)));
  return {
    intervalS: LOCAL_TIMING.intervalS * factor,
    relayHeartbeatS: LOCAL_TIMING.relayHeartbeatS * factor,
    heartbeatTimeoutS: LOCAL_TIMING.heartbeatTimeoutS * factor,
  };
}
