/**
 * The authority's view of relays: accepts descriptors and heartbeats (durably, via the store),
 * tests reachability, and decides which relays it votes Running:
 *   Running = an accepted heartbeat, or the storing of its descriptor (which counts as one,
 *               directory.proto PublishDescriptor), within the heartbeat timeout
 *           AND the latest reachability test of the descriptor's current addresses passed,
 *               within the reachability window
 *           AND the descriptor has not expired.
 * Only live relays are tested: when they publish or first heartbeat (and when their addresses
 * change), then again after a quarter to a half of the reachability window (drawn at random,
 * so that a thousand relays tested together are re-tested spread out), failures retried after
 * a few seconds. So relays silent for longer than the timeout cost no probes, and keeping a
 * thousand relays listed costs a handful of handshakes a second, not hundreds: liveness comes
 * from the signed heartbeats, which are cheap, and the test re-checks the address, as Tor's
 * authorities do on a ~20-minute cycle. A publication standing for the first heartbeat saves a
 * relay joining the network one signed RPC to each authority.
 * `viewVersion` changes whenever the vote this authority would cast changes in a way that can
 * change the consensus (a relay starts or stops Running, or a Running relay's descriptor
 * changes): that starts a voting round.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { VoteRelaySchema, type VoteRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import type { SignedDescriptor } from "../../gen/meowonion/v1/descriptor_pb.js";
import type { HeartbeatRequest } from "../../gen/meowonion/v1/directory_pb.js";
import type { Logger } from "../common/log.js";
import { fingerprintHex } from "../onion/keys.js";
import {
  checkDescriptorShape,
  checkDescriptorSignatureWith,
  checkDescriptorTimes,
  hex,
  type ValidDescriptor,
} from "../netdoc/descriptor.js";
import { checkHeartbeatTime, decodeHeartbeat, verifyHeartbeatSignatureWith } from "../netdoc/heartbeat.js";
import { ReachabilityTester, type ReachProbe, type ReachTarget } from "./reachability.js";
import type { DirectoryStore, StoredRelay } from "./store.js";
import { heartbeatLogRefusal } from "./heartbeat-log.js";
import type { SignatureVerifier } from "../netdoc/signature-verifier.js";
import { advance, runSeconds, skipDowntime, transition, wfuPpm, type UptimeHistory } from "./uptime.js";

export interface RegistryOptions {
  heartbeatTimeoutMs: number;
  /** How long a passed reachability test counts (at least the heartbeat timeout). */
  reachabilityWindowMs: number;
  probe: ReachProbe;
  /** Where descriptor and heartbeat signatures are checked (worker threads in the server). */
  verifier: SignatureVerifier;
  /** Concurrent reachability tests. Default 32. */
  reachConcurrency?: number;
  /** Per-address handshake timeout. Default min(5 s, heartbeat timeout / 3). */
  reachTimeoutMs?: number;
  log: Logger;
  /** Called (synchronously) whenever viewVersion changes. */
  onViewChange: () => void;
  /** Called with every descriptor once it is durably stored. */
  onStored?: (v: ValidDescriptor) => void;
  now?: () => number;
}

interface LiveState {
  /** The latest test of `target` (the descriptor's addresses) and when the next one is due. */
  reach?: { target: string; ok: boolean; atMs: number; nextAtMs: number };
  running: boolean;
  /** Run start and WFU (uptime.ts), journaled at every change of `running`. */
  history?: UptimeHistory;
  /** After a restart: a run open at shutdown goes on if Running again by then. */
  resumeUntilMs?: number;
}

export class RelayRegistry {
  private readonly live = new Map<string, LiveState>();
  private readonly tester: ReachabilityTester;
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly retryMs: number;
  private version = 0;

  constructor(
    private readonly store: DirectoryStore,
    private readonly options: RegistryOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.windowMs = Math.max(options.reachabilityWindowMs, options.heartbeatTimeoutMs);
    this.retryMs = Math.min(options.heartbeatTimeoutMs / 2, 5_000);
    this.tester = new ReachabilityTester(options.probe, {
      concurrency: options.reachConcurrency ?? 32,
      timeoutMs: options.reachTimeoutMs ?? Math.min(5_000, Math.max(200, options.heartbeatTimeoutMs / 3)),
    });
    this.restoreUptime();
  }

  /**
   * Uptime histories from the journal. The authority's downtime counts for nobody: each
   * history is accounted up to the relay's last heartbeat before the stop, and a run open then
   * goes on if the relay is Running again within one heartbeat timeout of this start.
   */
  private restoreUptime(): void {
    const now = this.now();
    for (const [key, saved] of this.store.uptime) {
      const relay = this.store.get(key);
      if (relay === undefined) continue;
      const lastAlive = relay.heartbeats.at(-1)?.receivedAtMs ?? saved.asOfMs;
      const state = this.stateOf(key);
      state.history = skipDowntime(saved, lastAlive, now);
      if (saved.running) state.resumeUntilMs = now + this.options.heartbeatTimeoutMs;
    }
  }

  get viewVersion(): number {
    return this.version;
  }

  /** Cheap checks first, the signature last, then the durable write. */
  async publish(signed: SignedDescriptor | undefined): Promise<ValidDescriptor> {
    const v = checkDescriptorShape(signed);
    checkDescriptorTimes(v, this.now());
    const refusal = this.store.placementRefusal(v);
    if (refusal !== undefined) throw refusal;
    await checkDescriptorSignatureWith(v, this.options.verifier);
    const replaced = this.store.get(v.keyHex) !== undefined;
    await this.store.putDescriptor(v, this.now());
    this.options.onStored?.(v);
    // Checked first: the fingerprint costs a hash, on the hottest path.
    if (this.options.log.isLevelEnabled("debug")) {
      this.options.log.debug({ relay: fingerprintHex(v.descriptor.identityKey), nickname: v.descriptor.nickname, digest: hex(v.digest), replaced }, "descriptor stored");
    }
    const state = this.stateOf(v.keyHex);
    if (state.running) this.bump(); // a listed relay's entry changes with its descriptor
    this.refresh(v.keyHex);
    return v;
  }

  /** Returns whether the relay is voted Running after this heartbeat. */
  async heartbeat(request: HeartbeatRequest): Promise<boolean> {
    const h = decodeHeartbeat(request);
    const relay = this.store.get(h.keyHex);
    if (relay === undefined) throw new ConnectError("no descriptor is held for this relay; publish one first", Code.NotFound);
    const now = this.now();
    checkHeartbeatTime(h, now);
    const refusal = heartbeatLogRefusal(relay.heartbeats, h, now);
    if (refusal !== undefined) throw refusal;
    await verifyHeartbeatSignatureWith(h, this.options.verifier);
    await this.store.putHeartbeat(h, this.now());
    this.refresh(h.keyHex);
    return this.stateOf(h.keyHex).running;
  }

  descriptor(identityKey: Uint8Array): SignedDescriptor {
    if (identityKey.length !== 32) throw new ConnectError(`identity_key must be 32 bytes, got ${identityKey.length}`, Code.InvalidArgument);
    const relay = this.store.get(hex(identityKey));
    if (relay === undefined) throw new ConnectError("no descriptor is held for this identity key", Code.NotFound);
    return relay.valid.signed;
  }

  isRunning(keyHex: string): boolean {
    return this.live.get(keyHex)?.running ?? false;
  }

  /** Periodic upkeep: forget expired relays, notice missed heartbeats, schedule tests. */
  tick(): void {
    for (const key of this.store.dropExpired(this.now())) {
      if (this.live.get(key)?.running) this.bump();
      this.live.delete(key);
    }
    for (const key of this.store.relays.keys()) this.refresh(key);
  }

  /**
   * Tests every relay that was heartbeating when the authority stopped, so that a restart
   * does not publish a consensus without them. Resolves when those tests are done.
   */
  async testRecentlyHeard(): Promise<void> {
    const tests: Promise<void>[] = [];
    for (const [key, relay] of this.store.relays) {
      if (!this.heardRecently(relay, this.now())) continue;
      tests.push(new Promise<void>((resolve) => (this.startTest(key, relay, resolve) ? undefined : resolve())));
    }
    await Promise.all(tests);
  }

  /** This authority's judgement of every relay it holds a descriptor for, for a vote. */
  voteRelays(validAfterMs: number): VoteRelay[] {
    const out: VoteRelay[] = [];
    const keys = [...this.store.relays.keys()].sort();
    for (const key of keys) {
      const relay = this.store.relays.get(key)!;
      if (relay.valid.expiresMs <= validAfterMs) continue;
      const state = this.live.get(key);
      const running = state?.running ?? false;
      const history = running ? state?.history : undefined;
      out.push(
        create(VoteRelaySchema, {
          descriptor: relay.valid.signed,
          running,
          uptimeSeconds: runSeconds(history, validAfterMs),
          weightedFractionalUptimePpm: history === undefined ? 0 : wfuPpm(history, validAfterMs),
        }),
      );
    }
    return out;
  }

  stop(): void {
    this.tester.stop();
  }

  private stateOf(key: string): LiveState {
    let state = this.live.get(key);
    if (state === undefined) this.live.set(key, (state = { running: false }));
    return state;
  }

  private bump(): void {
    this.version++;
    this.options.onViewChange();
  }

  /** An accepted heartbeat, or a stored descriptor (directory.proto PublishDescriptor), within the timeout. */
  private heardRecently(relay: StoredRelay, now: number): boolean {
    const last = Math.max(relay.heartbeats.at(-1)?.receivedAtMs ?? -Infinity, relay.storedAliveAtMs);
    return now - last <= this.options.heartbeatTimeoutMs;
  }

  /** Recomputes Running for one relay and starts a reachability test if one is due. */
  private refresh(key: string): void {
    const relay = this.store.get(key);
    if (relay === undefined) return;
    const now = this.now();
    const state = this.stateOf(key);
    const heard = this.heardRecently(relay, now);
    const target = targetKey(relay.valid);
    const reach = state.reach?.target === target ? state.reach : undefined;
    const reachable = reach !== undefined && reach.ok && now - reach.atMs <= this.windowMs;
    const running = heard && reachable && relay.valid.expiresMs > now;
    if (running !== state.running) {
      state.running = running;
      const pending = state.resumeUntilMs;
      state.resumeUntilMs = undefined;
      let history = state.history;
      if (pending !== undefined && history?.running === true) {
        // After a restart: the run open at shutdown goes on, or it ended when we started.
        if (!running || now > pending) history = { ...history, running: false };
      }
      this.recordUptime(key, state, history?.running === running ? advance(history, now) : transition(history, running, now));
      const why = running ? undefined : !heard ? "no heartbeat within the timeout" : !reachable ? "not reachable" : "descriptor expired";
      this.options.log.info({ relay: fingerprintHex(relay.valid.descriptor.identityKey), running, why }, running ? "relay is Running" : "relay is no longer Running");
      this.bump();
    } else if (state.resumeUntilMs !== undefined && now > state.resumeUntilMs) {
      // Not back within the window after a restart: its run ended when the authority started.
      state.resumeUntilMs = undefined;
      if (state.history !== undefined) this.recordUptime(key, state, advance({ ...state.history, running: false }, now));
    }
    const due = reach === undefined || now >= reach.nextAtMs;
    if (heard && due) this.startTest(key, relay);
  }

  private recordUptime(key: string, state: LiveState, history: UptimeHistory): void {
    state.history = history;
    this.store.putUptime(key, history).catch((err: unknown) => this.options.log.warn({ err, relay: key }, "could not journal a relay's uptime"));
  }

  private startTest(key: string, relay: StoredRelay, done?: () => void): boolean {
    const target = targetKey(relay.valid);
    return this.tester.test(key, reachTarget(relay.valid), (result) => {
      const state = this.stateOf(key);
      const changed = state.reach?.ok !== result.ok;
      const atMs = this.now();
      const nextAtMs = atMs + (result.ok ? (this.windowMs / 4) * (1 + Math.random()) : this.retryMs);
      state.reach = { target, ok: result.ok, atMs, nextAtMs };
      if (changed && !result.ok) {
        this.options.log.info({ relay: fingerprintHex(relay.valid.descriptor.identityKey), reason: result.reason }, "reachability test failed");
      }
      this.refresh(key);
      done?.();
    });
  }
}

function reachTarget(v: ValidDescriptor): ReachTarget {
  const d = v.descriptor;
  const addresses = [d.ipv4Address, d.ipv6Address].filter((a) => a !== "").map((host) => ({ host, port: d.orPort }));
  return { identityKey: d.identityKey, addresses };
}

/** What a test result is valid for: the addresses and port (the identity is the entry's key). */
function targetKey(v: ValidDescriptor): string {
  const d = v.descriptor;
  return `${d.ipv4Address}|${d.ipv6Address}|${d.orPort}`;
}
