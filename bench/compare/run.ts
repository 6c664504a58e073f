/**
 * One run of every workload against one network, in a fixed order:
 * start → usable (first byte), circuit builds, fresh circuits, round trips (spaced, back to
 * back), bulk (with CPU over all network processes), concurrent streams, peak memory, the
 * onion service (after the memory readings, which its extra client processes would not
 * change but its traffic through the network's client would), idle circuits.
 */
import { measureOnionService, onionServicePorts } from "./onion-service.js";
import { cpuSeconds, peakRssMb } from "./procs.js";
import type { BuiltCircuit, NetworkUnderTest } from "./targets.js";
import { bulk, concurrent, firstByteWhenReady, freshFirstByte, roundTrips, type Destinations } from "./workloads.js";
import { percentile } from "./stats.js";
import type { RunValues } from "./report.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Params {
  runs: number;
  bulkBytes: number;
  concurrentStreams: number;
  concurrentBytes: number;
  /** Stop a throughput workload after this long and count what arrived (keeps the run short). */
  transferCapMs: number;
  rttCount: number;
  rttGapMs: number;
  freshCount: number;
  buildCount: number;
  /**
   * Pause before each circuit build and each fresh circuit. Back to back, Tor stalls ~40 ms
   * (the previous circuit's DESTROY or END and the next CREATE2 are two small writes on a link
   * without TCP_NODELAY: Nagle against delayed ACK); spaced like a user's requests, it does not.
   */
  opGapMs: number;
  readyTimeoutMs: number;
  /**
   * Idle circuits built at one relay for the memory-per-circuit figures (0: skip). Measured in
   * the first run of each network only (about a minute each).
   */
  idleCircuits: number;
  /**
   * Back-to-back round trips, and as many circuits (built, and fresh with a first byte) as
   * warmupCircuits, run against every network alike before anything is timed, so that each is
   * measured in its steady state (0: none). V8 optimizes our per-cell paths only after they
   * have run a few thousand times; C tor needs no warm-up, so this changes little for it.
   */
  warmupRoundTrips: number;
  warmupCircuits: number;
  /**
   * Bytes moved untimed in the warm-up, over one stream and then over 20: V8 compiles and
   * re-optimizes our data path over the first ≈ 150 MB (a fresh network spent 49–55 ms of CPU
   * per MB on its first 50 MB, 34–36 on the next, 27–30 on the third, then 20–35, over three
   * runs), which would otherwise be charged to the bulk figures.
   */
  warmupBulkBytes: number;
  /** Fresh clients connecting to the onion service, one connect each (./onion-service.ts). */
  onionConnects: number;
  onionBulkBytes: number;
  /**
   * Moved untimed through the onion service before its bulk figure (0 with --warmup 0): the
   * fresh client is a new process, and the onion hop's code paths in it and in the service
   * are new to V8 too.
   */
  onionWarmupBytes: number;
}

export const FULL: Params = {
  runs: 3,
  bulkBytes: 100_000_000,
  concurrentStreams: 20,
  concurrentBytes: 5_000_000,
  transferCapMs: 20_000,
  rttCount: 100,
  rttGapMs: 20,
  freshCount: 10,
  buildCount: 10,
  opGapMs: 100,
  readyTimeoutMs: 120_000,
  idleCircuits: 10_000,
  warmupRoundTrips: 3_000,
  warmupCircuits: 10,
  warmupBulkBytes: 200_000_000,
  onionConnects: 10,
  onionBulkBytes: 50_000_000,
  onionWarmupBytes: 50_000_000,
};

export const QUICK: Params = {
  runs: 1,
  bulkBytes: 20_000_000,
  concurrentStreams: 20,
  concurrentBytes: 1_000_000,
  transferCapMs: 10_000,
  rttCount: 30,
  rttGapMs: 20,
  freshCount: 5,
  buildCount: 5,
  opGapMs: 100,
  readyTimeoutMs: 90_000,
  idleCircuits: 2_000,
  warmupRoundTrips: 500,
  warmupCircuits: 5,
  warmupBulkBytes: 10_000_000,
  onionConnects: 5,
  onionBulkBytes: 20_000_000,
  onionWarmupBytes: 10_000_000,
};

/** Which role a process plays, for the per-role memory figures. */
export type Role = "relay" | "client" | "authority" | "other";

export interface RunOutput {
  values: RunValues;
  notes: string[];
  nodesPeakRssMb: Record<string, number>;
  /** PID → process name, as seen at the end of the run. */
  pids: Record<number, string>;
  /** Each process's CPU use during the bulk transfer, in cores (1 = one core busy). */
  bulkCpuCores: Record<string, number>;
  errors: string[];
}

/**
 * Run all workloads. `tag` makes isolation keys unique across runs. `role` maps a process
 * name to its role. `afterFirstByte` runs right after the network is usable (Tor: wait for
 * bootstrap 100%).
 */
export async function runWorkloads(
  net: NetworkUnderTest,
  dst: Destinations,
  p: Params,
  tag: string,
  role: (name: string) => Role,
  log: (msg: string) => void,
  afterFirstByte?: () => Promise<void>,
): Promise<RunOutput> {
  const v: RunValues = {};
  const errors: string[] = [];
  const notes: string[] = [];
  const bulkCpuCores: Record<string, number> = {};
  const step = async (name: string, f: () => Promise<void>): Promise<void> => {
    const t = performance.now();
    try {
      await f();
      log(`  ${name}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    } catch (e) {
      const msg = `${name}: ${e instanceof Error ? e.message : String(e)}`;
      errors.push(msg);
      log(`  FAILED ${msg}`);
    }
  };
  /**
   * Run `f` once more, with a new isolation suffix (so a new circuit), if the network fails it
   * (Tor now and then fails a stream on a circuit it has just built); the retry is noted.
   */
  const retriedOnce = async <T>(what: string, f: (suffix: string) => Promise<T>): Promise<T> => {
    try {
      return await f("");
    } catch (e) {
      notes.push(`${tag}: ${what} failed (${e instanceof Error ? e.message : String(e)}), retried once`);
      await sleep(p.opGapMs);
      return f("-retry");
    }
  };

  const buildCircuit = net.buildCircuit?.bind(net);
  const freshCircuits = buildCircuit !== undefined && net.streamsUseBuiltCircuits !== false;
  await firstByteWhenReady(net, dst, Date.now() + p.readyTimeoutMs, `ready-${tag}`);
  v.ready_ms = performance.now() - net.startedAt;
  log(`  usable after ${Math.round(v.ready_ms)} ms`);
  if (afterFirstByte) await afterFirstByte();
  if (p.warmupRoundTrips > 0 || p.warmupCircuits > 0 || p.warmupBulkBytes > 0) {
    await step("warm-up", async () => {
      if (p.warmupRoundTrips > 0) {
        await retriedOnce("a warm-up round trip", (s) => roundTrips(net, dst, p.warmupRoundTrips, 0, `warm-${tag}${s}`));
      }
      if (p.warmupBulkBytes > 0) {
        await retriedOnce("the warm-up bulk transfer", (s) => bulk(net, dst, p.warmupBulkBytes / 2, `warm-bulk-${tag}${s}`, p.transferCapMs));
        await retriedOnce("a warm-up concurrent stream", (s) =>
          concurrent(net, dst, p.concurrentStreams, p.warmupBulkBytes / 2 / p.concurrentStreams, `warm-concurrent-${tag}${s}`, p.transferCapMs),
        );
      }
      // Spaced like the timed ones: a relay allows a client 3 new circuits a second after a burst of 90.
      if (buildCircuit) {
        for (let i = 0; i < p.warmupCircuits; i++) {
          await sleep(p.opGapMs);
          await (await buildCircuit()).close();
        }
        for (let i = 0; i < (freshCircuits ? p.warmupCircuits : 0); i++) {
          await sleep(p.opGapMs);
          await retriedOnce("a warm-up fresh-circuit stream", (s) => freshFirstByte(net, dst, `warm-fresh-${tag}-${i}${s}`));
        }
      }
    });
  }

  if (buildCircuit) await step("circuit builds", async () => {
    const built: BuiltCircuit[] = [];
    try {
      for (let i = 0; i < p.buildCount; i++) {
        await sleep(p.opGapMs);
        built.push(await buildCircuit());
      }
    } finally {
      // Closed only now: closing each right before the next build would time the close too.
      for (const c of built) await c.close().catch(() => undefined);
    }
    const ms = built.map((c) => c.ms);
    v.circuit_build_ms_p50 = percentile(ms, 50);
    v.circuit_build_ms_p90 = percentile(ms, 90);
  });
  if (freshCircuits) await step("fresh circuits", async () => {
    const ms: number[] = [];
    for (let i = 0; i < p.freshCount; i++) {
      await sleep(p.opGapMs);
      ms.push(await retriedOnce("a fresh-circuit stream", (s) => freshFirstByte(net, dst, `fresh-${tag}-${i}${s}`)));
    }
    v.fresh_circuit_first_byte_ms_p50 = percentile(ms, 50);
    v.fresh_circuit_first_byte_ms_p90 = percentile(ms, 90);
  });
  await step("round trips, spaced", async () => {
    const r = await roundTrips(net, dst, p.rttCount, p.rttGapMs, `rtt-${tag}`);
    v.rtt_ms_p50 = r.p50;
    v.rtt_ms_p90 = r.p90;
  });
  await step("round trips, back to back", async () => {
    const r = await roundTrips(net, dst, p.rttCount, 0, `rtt-b2b-${tag}`);
    v.rtt_b2b_ms_p50 = r.p50;
    v.rtt_b2b_ms_p90 = r.p90;
  });
  await step("bulk", async () => {
    const procs = net.processes();
    const each0 = procs.map((pr) => cpuSeconds(pr.pid));
    const t0 = performance.now();
    const r = await bulk(net, dst, p.bulkBytes, `bulk-${tag}`, p.transferCapMs);
    const wall = (performance.now() - t0) / 1000;
    const each1 = procs.map((pr) => cpuSeconds(pr.pid));
    const c0 = each0.reduce((a, b) => a + b, 0);
    const c1 = each1.reduce((a, b) => a + b, 0);
    procs.forEach((pr, i) => {
      let name = pr.name;
      for (let k = 2; name in bulkCpuCores; k++) name = `${pr.name} #${k}`;
      bulkCpuCores[name] = (each1[i]! - each0[i]!) / wall;
    });
    v.bulk_mb_per_s = r.mbPerS;
    if (r.bytes > 0) v.cpu_s_per_100mb = ((c1 - c0) * 100_000_000) / r.bytes;
    if (r.capped) notes.push(`${tag}: bulk stopped after ${p.transferCapMs / 1000} s at ${(r.bytes / 1e6).toFixed(0)} MB`);
  });
  await step("concurrent", async () => {
    const r = await concurrent(net, dst, p.concurrentStreams, p.concurrentBytes, `conc-${tag}`, p.transferCapMs);
    v.concurrent_mb_per_s = r.mbPerS;
    if (r.capped) notes.push(`${tag}: concurrent stopped after ${p.transferCapMs / 1000} s at ${(r.bytes / 1e6).toFixed(0)} MB`);
  });

  const nodes: Record<string, number> = {};
  const pids: Record<number, string> = {};
  const byRole: Record<Role, number[]> = { relay: [], client: [], authority: [], other: [] };
  for (const pr of net.processes()) {
    const mb = peakRssMb(pr.pid);
    if (mb === undefined) continue;
    let name = pr.name;
    for (let i = 2; name in nodes; i++) name = `${pr.name} #${i}`;
    nodes[name] = mb;
    pids[pr.pid] = name;
    byRole[role(pr.name)].push(mb);
  }
  if (byRole.relay.length) v.peak_rss_mb_relay = Math.max(...byRole.relay);
  if (byRole.client.length) v.peak_rss_mb_client = Math.max(...byRole.client);
  if (byRole.authority.length) v.peak_rss_mb_authority = Math.max(...byRole.authority);

  if (p.onionConnects > 0 && net.onionService) {
    await step("onion service", async () => {
      const service = await net.onionService!(onionServicePorts(dst));
      log(`    onion service ${service.host} published`);
      const r = await measureOnionService(
        service,
        dst,
        {
          connects: p.onionConnects,
          bulkBytes: p.onionBulkBytes,
          warmupBytes: p.onionWarmupBytes,
          gapMs: p.opGapMs,
          transferCapMs: p.transferCapMs,
          readyTimeoutMs: p.readyTimeoutMs,
        },
        tag,
        log,
      );
      Object.assign(v, r.values);
      notes.push(...r.notes);
    });
  }

  // After the peak memory readings: Tor's figure is measured at one of its relays, whose peak
  // it raises.
  if (p.idleCircuits > 0 && net.idleCircuits) {
    await step(`idle circuits (${p.idleCircuits})`, async () => {
      const r = await net.idleCircuits!(p.idleCircuits, (m) => log(`    ${m}`));
      v.relay_idle_circuit_bytes = r.edge.rssBytes;
      if (r.edge.heapExternalBytes !== undefined) v.relay_idle_circuit_heap_bytes = r.edge.heapExternalBytes;
      if (r.middle) {
        v.relay_idle_middle_circuit_bytes = r.middle.rssBytes;
        if (r.middle.heapExternalBytes !== undefined) v.relay_idle_middle_circuit_heap_bytes = r.middle.heapExternalBytes;
      }
    });
  }
  return { values: v, notes, nodesPeakRssMb: nodes, pids, bulkCpuCores, errors };
}
