/**
 * onion/*: onion services (onion_service.proto), black box. The consensus's shared random value
 * and HSDIR flags; HSDirs over BEGIN_DIR; intro points and rendezvous points at the
 * implementation's relays, driven by the suite's own client and service code; and, when the
 * implementation runs a service for the suite (ControlService.AddOnionService) or has a proxy,
 * the whole flow with the suite's client or service on the other end.
 */
import { randomBytes } from "node:crypto";
import type net from "node:net";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import { ControlService } from "../../gen/meowonion/v1/control_pb.js";
import { RelayFeature } from "../../gen/meowonion/v1/descriptor_pb.js";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import {
  EstablishRendezvousSchema,
  type HsDirResponse,
  type IntroPoint,
  OnionDescriptorSchema,
  HsDirStatus,
  Introduce1Schema,
  IntroduceAckSchema,
  IntroduceAckStatus,
  Rendezvous1Schema,
  Rendezvous2Schema,
  type SignedOnionDescriptor,
} from "../../gen/meowonion/v1/onion_service_pb.js";
import { EndReason, RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { compare, equal, hex, u8 } from "../lib/bytes.js";
import { type ClientCircuit, type RelayInfo, parse, pb } from "../lib/circuit.js";
import { type Ed25519Key, ed25519Generate, ed25519Sign, x25519Generate } from "../lib/crypto.js";
import { transport } from "../lib/directory-client.js";
import { decodeDescriptor } from "../lib/documents.js";
import { type ExpandedKey, expandSeed } from "../lib/ed25519-group.js";
import { clientFinish, clientIntroduce, endToEndKeys, serviceOpen, serviceRespond } from "../lib/hs-ntor.js";
import { beginDir, hsDirRequest } from "../lib/hsdir-client.js";
import { LinkPool, linkSpecifiersOf, relayFromSpecifiers, relayInfoOf } from "../lib/link-pool.js";
import { type FetchedDescriptor, OnionConnectError, fetchDescriptor, rendezvousWith } from "../lib/onion-client.js";
import { type DescriptorParams, MAX_DESCRIPTOR_BYTES, MAX_LIFETIME_SECONDS, buildOnionDescriptor, signedDescriptorSize } from "../lib/onion-descriptor.js";
import { FETCH_SPREAD, type Period, blindPublicKey, blindSecretKey, int8, onionAddress, periodAt, responsibleHsDirs, sha3, subcredential } from "../lib/onion-keys.js";
import { buildIntroduce1, circuitNonce, establishIntroBody, introduceHeader } from "../lib/onion-messages.js";
import { SuiteOnionService, currentPeriod, hsDirsOf, serveStreams } from "../lib/onion-service.js";
import { socks5Connect } from "../lib/socks.js";
import { TestServer, patternBytes, sha256hex } from "../lib/tcp.js";
import type { ResolvedRelay } from "../target.js";
import { type Feature, type TestCase, type TestContext, check, fail, skip } from "../framework.js";
import { fleet, flagNames, goodListed, listed } from "./directory.js";
import { dir, fetchConsensus, relays, sleep } from "./helpers.js";

const OS = "onion_service.proto";
const T = (id: string, clause: string, title: string, run: (ctx: TestContext) => Promise<void>, extra: Partial<TestCase> = {}): TestCase => ({
  id: `onion/${id}`,
  clause,
  level: "MUST",
  requires: ["relay", "onionService"],
  title,
  run,
  timeoutMs: 60_000,
  ...extra,
});
const needs = (...f: Feature[]) => ({ requires: ["onionService", ...f] as Feature[] });

const statusName = (s: HsDirStatus | undefined) => (s === undefined ? "none" : (HsDirStatus[s] ?? String(s)));
const ackName = (s: IntroduceAckStatus | undefined) => (s === undefined ? "none" : (IntroduceAckStatus[s] ?? String(s)));
const reasonName = (r: DestroyReason | undefined) => (r === undefined ? "none" : (DestroyReason[r] ?? String(r)));
/** How long the suite waits to be sure something does NOT happen. */
const QUIET_MS = 1500;

// ------------------------------------------------------------------------------------ helpers

function pool(ctx: TestContext): LinkPool {
  const p = new LinkPool(ctx.ms(8000));
  ctx.defer(() => p.close());
  return p;
}

async function circuit(ctx: TestContext, p: LinkPool, path: RelayInfo[]): Promise<ClientCircuit> {
  try {
    const c = await p.circuit(path);
    ctx.defer(() => c.destroy());
    return c;
  } catch (e) {
    fail(`setup: a circuit to ${path.map((r) => r.nickname ?? `${r.host}:${r.port}`).join(" > ")} failed: ${(e as Error).message}`);
  }
}

/** A path ending at `last`: through another relay of the target when it can extend, else one hop. */
async function pathTo(ctx: TestContext, last: ResolvedRelay): Promise<RelayInfo[]> {
  const rs = await relays(ctx);
  const other = rs.find((r) => !equal(r.identity, last.identity));
  return ctx.target.has("extend") && other ? [other, last] : [last];
}

async function expectDestroyed(ctx: TestContext, c: ClientCircuit, what: string): Promise<void> {
  const gone = await c.waitDestroyed(ctx.ms(5000));
  check(gone, `${what}: the circuit was not destroyed within 5 s`, "DESTROY", "circuit still open");
  if (c.destroyedBy === "link") fail(`${what}: the relay closed the whole link instead of destroying the circuit`, "DESTROY", `link closed (${c.link.closeReason})`);
  if (c.destroyedBy === "us") fail(`${what}: the relay's answer made the suite destroy the circuit: ${c.describeState()}`);
  check(c.destroyedReason === DestroyReason.PROTOCOL, `${what}: DESTROY ${reasonName(c.destroyedReason)}, expected PROTOCOL`, "PROTOCOL", reasonName(c.destroyedReason));
}

/** The answer to `command` on `c` (or fail), given the mark taken before sending. */
async function answer(ctx: TestContext, c: ClientCircuit, command: RelayCommand, since: number, what: string) {
  const got = await c.waitCell((x) => x.cell.command === command, ctx.ms(5000), since);
  if (!got) fail(`${what}: no ${RelayCommand[command]} within 5 s (${c.describeState()})`, RelayCommand[command], c.destroyed ? "circuit destroyed" : "nothing");
  return got;
}

async function consensus(ctx: TestContext): Promise<Consensus> {
  return (await fetchConsensus(ctx)).consensus;
}

/** The consensus once it lists every relay of the implementation (a new network takes a few rounds). */
async function listingAll(ctx: TestContext): Promise<Consensus> {
  const rs = await relays(ctx);
  const end = Date.now() + ctx.ms(60_000);
  for (;;) {
    const c = await consensus(ctx);
    const missing = rs.filter((r) => !listed(c, r.identity));
    if (!missing.length) return c;
    if (Date.now() > end) fail(`${missing.length} of ${rs.length} relays of the implementation are not in the consensus after 60 s`);
    await sleep(500);
  }
}

/** The consensus's time period, or (without a directory) Tor's default periods at this time. */
async function period(ctx: TestContext): Promise<Period> {
  if (!ctx.target.directory) return periodAt(Date.now(), 1440, 720);
  try {
    return currentPeriod(await consensus(ctx)).period;
  } catch (e) {
    fail(`the consensus has no usable onion-service period: ${(e as Error).message}`);
  }
}

/** A target relay with the HSDIR flag (any target relay when there is no directory to ask). */
async function hsDir(ctx: TestContext): Promise<ResolvedRelay> {
  const rs = await relays(ctx);
  if (!ctx.target.directory) return rs[0];
  const end = Date.now() + ctx.ms(60_000);
  for (;;) {
    const c = await consensus(ctx);
    const r = rs.find((r) => listed(c, r.identity)?.flags.includes(RelayFlag.HSDIR));
    if (r) return r;
    if (Date.now() > end) fail("no relay of the implementation has the HSDIR flag in the consensus (onionService declares HSDirs from the start, as a test network's thresholds)");
    await sleep(500);
  }
}

/** A fresh service identity and its keys for the current period. */
interface TestService {
  identity: Ed25519Key;
  period: Period;
  blinded: Uint8Array;
  secret: ExpandedKey;
  subcred: Uint8Array;
}

async function freshService(ctx: TestContext): Promise<TestService> {
  const identity = ed25519Generate();
  const p = await period(ctx);
  const blinded = blindPublicKey(identity.publicKey, p);
  return { identity, period: p, blinded, secret: blindSecretKey(expandSeed(identity.seed), p), subcred: subcredential(identity.publicKey, blinded) };
}

function descriptor(svc: TestService, relay: RelayInfo, over: Partial<DescriptorParams> = {}): SignedOnionDescriptor {
  return buildOnionDescriptor({
    blindedKey: svc.blinded,
    sign: svc.secret,
    subcredential: svc.subcred,
    periodNum: svc.period.num,
    revision: 1n,
    inner: { introPoints: [{ linkSpecifiers: linkSpecifiersOf(relay), ntorOnionKey: relay.onionKey, authKey: ed25519Generate().publicKey, encKey: x25519Generate().publicKey }] },
    ...over,
  });
}

async function dirAsk(ctx: TestContext, c: ClientCircuit, request: Parameters<typeof hsDirRequest>[1], what: string): Promise<HsDirResponse> {
  const out = await hsDirRequest(c, request, ctx.ms(8000));
  if (out.kind === "refused") fail(`${what}: BEGIN_DIR answered END ${EndReason[out.reason]} (the relay has the HSDIR flag)`, "CONNECTED", `END ${EndReason[out.reason]}`);
  if (out.kind === "failed") fail(`${what}: ${out.why}`);
  return out.response;
}

const store = (ctx: TestContext, c: ClientCircuit, signed: SignedOnionDescriptor, what: string) => dirAsk(ctx, c, { request: { case: "store", value: signed } }, what);
const fetchKey = (ctx: TestContext, c: ClientCircuit, key: Uint8Array, what: string) => dirAsk(ctx, c, { request: { case: "fetchBlindedKey", value: key } }, what);

function expectStatus(res: HsDirResponse, want: HsDirStatus, what: string): void {
  check(res.status === want, `${what}: ${statusName(res.status)}${res.message ? ` (${res.message})` : ""}, expected ${statusName(want)}`, statusName(want), statusName(res.status));
}

/** Store must be INVALID, and the blinded key must stay unknown. */
async function expectInvalid(ctx: TestContext, signed: SignedOnionDescriptor, key: Uint8Array, what: string): Promise<void> {
  const r = await hsDir(ctx);
  const c = await circuit(ctx, pool(ctx), [r]);
  expectStatus(await store(ctx, c, signed, what), HsDirStatus.INVALID, what);
  expectStatus(await fetchKey(ctx, c, key, `fetch after ${what}`), HsDirStatus.NOT_FOUND, `fetch after ${what}`);
}

/** The same signed descriptor bytes (descriptor and signature). */
const sameDescriptor = (a: SignedOnionDescriptor | undefined, b: SignedOnionDescriptor) => !!a && equal(a.descriptor, b.descriptor) && equal(a.signature, b.signature);

/** A service circuit at `r` with ESTABLISH_INTRO for a fresh auth key, INTRO_ESTABLISHED received. */
async function introCircuit(ctx: TestContext, p: LinkPool, r: ResolvedRelay, opts: { authKey?: Ed25519Key; dos?: { rate: number; burst: number } } = {}) {
  const authKey = opts.authKey ?? ed25519Generate();
  const c = await circuit(ctx, p, [r]);
  const since = c.mark();
  c.sendCell(0, RelayCommand.ESTABLISH_INTRO, 0, establishIntroBody(authKey, circuitNonce(c.keyMaterial[0]), opts.dos));
  await answer(ctx, c, RelayCommand.INTRO_ESTABLISHED, since, "ESTABLISH_INTRO with a good MAC and signature");
  return { c, authKey };
}

/** INTRODUCE1 on a fresh client circuit at `r`; returns the INTRODUCE_ACK status. */
async function introduce(ctx: TestContext, p: LinkPool, r: ResolvedRelay, body: Uint8Array): Promise<IntroduceAckStatus> {
  const k = await circuit(ctx, p, [r]);
  const since = k.mark();
  k.sendCell(0, RelayCommand.INTRODUCE1, 0, body);
  return parse(IntroduceAckSchema, (await answer(ctx, k, RelayCommand.INTRODUCE_ACK, since, "INTRODUCE1")).cell.data).status;
}

/** A well-formed INTRODUCE1 for `authKey` (to a made-up service key). */
function someIntroduce1(authKey: Uint8Array, rendezvous: RelayInfo): Uint8Array {
  return buildIntroduce1({ authKey, encKey: x25519Generate().publicKey, subcredential: u8(randomBytes(32)) }, u8(randomBytes(20)), rendezvous).body;
}

/** A client circuit at the rendezvous point with `cookie` established. */
async function rendezvousCircuit(ctx: TestContext, p: LinkPool, path: RelayInfo[], cookie: Uint8Array): Promise<ClientCircuit> {
  const c = await circuit(ctx, p, path);
  const since = c.mark();
  c.sendCell(c.lastHop, RelayCommand.ESTABLISH_RENDEZVOUS, 0, pb(EstablishRendezvousSchema, { cookie }));
  await answer(ctx, c, RelayCommand.RENDEZVOUS_ESTABLISHED, since, "ESTABLISH_RENDEZVOUS");
  return c;
}

async function echoServer(ctx: TestContext): Promise<TestServer> {
  const s = await new TestServer({ echo: true }).start();
  ctx.defer(() => s.close());
  return s;
}

/** BEGIN to the service's virtual port on the circuit's last (onion) hop, `n` bytes echoed, checked by SHA-256. */
async function echoThrough(ctx: TestContext, c: ClientCircuit, port: number, n: number, what: string): Promise<void> {
  const s = await c.begin("", port, { timeoutMs: ctx.ms(10_000) }).catch((e) => fail(`${what}: BEGIN to virtual port ${port}: ${(e as Error).message}`));
  const data = patternBytes(n, `${what} ${hex(u8(randomBytes(4)))}`);
  await s.write(data, ctx.ms(20_000)).catch((e) => fail(`${what}: sending: ${(e as Error).message}`));
  await s.waitBytes(n, ctx.ms(20_000));
  check(s.bytesReceived === n && sha256hex(s.received()) === sha256hex(data), `${what}: ${s.bytesReceived} of ${n} bytes came back (or different bytes): ${c.describeState()}`);
  s.end();
  check(!c.anomalies.length, `${what}: ${c.anomalies.slice(0, 3).join("; ")}`);
}

function control(ctx: TestContext) {
  if (!ctx.target.control) skip("no ControlService URL (proxy control=, or a control launch line)");
  return createClient(ControlService, transport(ctx.target.control));
}

/** AddOnionService with one port to `target`; removed in teardown. */
async function addService(ctx: TestContext, target: TestServer, virtualPort = 80): Promise<string> {
  const ctl = control(ctx);
  await listingAll(ctx);
  let address: string;
  try {
    address = (await ctl.addOnionService({ ports: [{ virtualPort, target: `127.0.0.1:${target.port}` }] }, { timeoutMs: ctx.ms(45_000) })).address;
  } catch (e) {
    fail(`AddOnionService failed: ${(e as Error).message}`);
  }
  ctx.defer(() => ctl.removeOnionService({ address }).catch(() => {}));
  return address;
}

/** The service's descriptor from its fetch set, retried for a while as the upload may still be landing. */
async function fetchWithRetry(ctx: TestContext, p: LinkPool, c: Consensus, address: string): Promise<FetchedDescriptor> {
  const end = Date.now() + ctx.ms(20_000);
  for (;;) {
    try {
      return await fetchDescriptor(p, c, address, ctx.ms(8000));
    } catch (e) {
      if (!(e instanceof OnionConnectError) || Date.now() > end) fail(`the suite's client could not fetch the descriptor of ${address}: ${(e as Error).message}`);
      await sleep(1000);
    }
  }
}

/** The suite's client: descriptor, then introduction and rendezvous, the service as the circuit's last hop. */
async function reach(ctx: TestContext, p: LinkPool, address: string): Promise<ClientCircuit> {
  const c = await consensus(ctx);
  const d = await fetchWithRetry(ctx, p, c, address);
  try {
    const rs = await relays(ctx);
    const rc = await rendezvousWith(p, c, d, ctx.ms(10_000), rs[Math.floor(Math.random() * rs.length)]);
    ctx.defer(() => rc.destroy());
    return rc;
  } catch (e) {
    fail(`the suite's client could not reach ${address}: ${(e as Error).message}`);
  }
}

const relayOf = (ip: IntroPoint): RelayInfo => relayFromSpecifiers(ip.linkSpecifiers, ip.ntorOnionKey);

// ------------------------------------------------------------------------------------ tests

export const onionTests: TestCase[] = [
  // ---------------------------------------------------------------- consensus
  T(
    "consensus/shared-random",
    "consensus.proto SHARED RANDOMNESS, Consensus.shared_random, Consensus.onion_service_params",
    "the consensus carries onion_service_params and shared_random (32-byte values, the period of valid_after, commits sorted)",
    async (ctx) => {
      const c = await consensus(ctx);
      const params = c.onionServiceParams;
      check(params && params.periodLengthMinutes > 0, "the consensus has no onion_service_params (period_length_minutes is 0)");
      check(params.rotationOffsetMinutes < params.periodLengthMinutes, `rotation_offset_minutes ${params.rotationOffsetMinutes} is not below the period length ${params.periodLengthMinutes}`);
      const sr = c.sharedRandom;
      check(sr, "the consensus has no shared_random");
      check(sr.current.length === 32 && sr.previous.length === 32, `shared random values of ${sr.current.length} and ${sr.previous.length} bytes, expected 32 each`);
      const want = periodAt(timestampMs(c.validAfter!), params.periodLengthMinutes, params.rotationOffsetMinutes).num;
      check(sr.period === want, `shared_random.period is ${sr.period}, the period of valid_after is ${want}`, String(want), String(sr.period));
      for (let i = 0; i < sr.nextCommits.length; i++) {
        const nc = sr.nextCommits[i];
        check(nc.authorityKey.length === 32 && nc.commit.length === 32, "a next_commits entry is not 32 + 32 bytes");
        check(c.authorityKeys.some((k) => equal(k, nc.authorityKey)), "next_commits names a key that is not an authority of the consensus");
        if (i > 0) check(compare(sr.nextCommits[i - 1].authorityKey, nc.authorityKey) < 0, "next_commits are not sorted by authority key ascending");
      }
      // No previous value reported: nobody held a consensus of the period before, so no commits
      // for this one were seen and no reveal can count.
      if (sr.previous.every((b) => b === 0)) {
        const expect = sha3("meowonion-shared-random-disaster", int8(sr.period), sr.previous);
        check(equal(sr.current, expect), "previous is all zero (no earlier value) but current is not SHA3-256(\"meowonion-shared-random-disaster\" | INT_8(period) | previous)", hex(expect), hex(sr.current));
      }
    },
    needs("directory"),
  ),
  T(
    "consensus/hsdir-flag",
    "consensus.proto RelayFlag.RELAY_FLAG_HSDIR; descriptor.proto RelayFeature.RELAY_FEATURE_HSDIR",
    "a relay the suite publishes with RELAY_FEATURE_HSDIR gets HSDIR (test-network thresholds); no relay gets HSDIR without the feature",
    async (ctx) => {
      const f = await fleet(ctx);
      const c = await goodListed(ctx, f);
      const good = listed(c, f.good.identity.publicKey)!;
      check(good.flags.includes(RelayFlag.HSDIR), `the suite's relay offers RELAY_FEATURE_HSDIR but has no HSDIR flag (${flagNames(good)})`);
      const { client } = dir(ctx);
      for (const r of c.relays) {
        const d = decodeDescriptor((await client.getDescriptor({ identityKey: r.identityKey })).descriptor!);
        const offers = d.features.includes(RelayFeature.HSDIR);
        check(offers || !r.flags.includes(RelayFlag.HSDIR), `relay ${r.nickname} has the HSDIR flag but its descriptor does not list RELAY_FEATURE_HSDIR`);
        const target = ctx.target.relays.some((t) => equal(t.identity, r.identityKey));
        check(!target || !offers || r.flags.includes(RelayFlag.HSDIR), `relay ${r.nickname} offers RELAY_FEATURE_HSDIR but has no HSDIR flag under the test network's thresholds (${flagNames(r)})`);
      }
    },
    { ...needs("directory"), timeoutMs: 180_000 },
  ),

  // ---------------------------------------------------------------- HSDirs
  T("hsdir/store-fetch", `${OS} HsDirRequest, HsDirResponse; relay.proto BEGIN_DIR`, "a descriptor signed by its blinded key is stored (OK) and fetched back byte for byte", async (ctx) => {
    const r = await hsDir(ctx);
    const svc = await freshService(ctx);
    const c = await circuit(ctx, pool(ctx), [r]);
    const d = descriptor(svc, r);
    expectStatus(await store(ctx, c, d, "store"), HsDirStatus.OK, "store of a valid descriptor");
    const got = await fetchKey(ctx, c, svc.blinded, "fetch");
    expectStatus(got, HsDirStatus.OK, "fetch of the stored descriptor");
    check(sameDescriptor(got.descriptor, d), "the fetched descriptor is not the stored one byte for byte");
  }),
  T("hsdir/newer-revision-replaces", `${OS} OnionDescriptor.revision_counter`, "a higher revision replaces the stored descriptor; fetch returns it", async (ctx) => {
    const r = await hsDir(ctx);
    const svc = await freshService(ctx);
    const c = await circuit(ctx, pool(ctx), [r]);
    expectStatus(await store(ctx, c, descriptor(svc, r, { revision: 5n }), "store revision 5"), HsDirStatus.OK, "store revision 5");
    const newer = descriptor(svc, r, { revision: 6n });
    expectStatus(await store(ctx, c, newer, "store revision 6"), HsDirStatus.OK, "store revision 6 over 5");
    check(sameDescriptor((await fetchKey(ctx, c, svc.blinded, "fetch")).descriptor, newer), "after storing revision 6 over 5, fetch does not return revision 6");
  }),
  T("hsdir/stale-revision", `${OS} OnionDescriptor.revision_counter, HsDirStatus.HS_DIR_STATUS_STALE`, "an equal or lower revision is STALE and the stored descriptor stays", async (ctx) => {
    const r = await hsDir(ctx);
    const svc = await freshService(ctx);
    const c = await circuit(ctx, pool(ctx), [r]);
    const held = descriptor(svc, r, { revision: 10n });
    expectStatus(await store(ctx, c, held, "store revision 10"), HsDirStatus.OK, "store revision 10");
    expectStatus(await store(ctx, c, descriptor(svc, r, { revision: 10n }), "another revision 10"), HsDirStatus.STALE, "another descriptor with the same revision 10");
    expectStatus(await store(ctx, c, descriptor(svc, r, { revision: 9n }), "revision 9"), HsDirStatus.STALE, "revision 9 after 10");
    check(sameDescriptor((await fetchKey(ctx, c, svc.blinded, "fetch")).descriptor, held), "after refused lower revisions, fetch does not return the stored revision 10");
  }),
  T("hsdir/unblinded-signature", `${OS} SignedOnionDescriptor.signature (by the blinded key); HS_DIR_STATUS_INVALID`, "a descriptor signed with the service's identity key instead of the blinded key is INVALID", async (ctx) => {
    const svc = await freshService(ctx);
    const r = await hsDir(ctx);
    await expectInvalid(ctx, descriptor(svc, r, { sign: (m) => ed25519Sign(svc.identity, m) }), svc.blinded, "a descriptor signed by the unblinded identity key");
  }),
  T("hsdir/bad-signature", `${OS} SignedOnionDescriptor.signature; HS_DIR_STATUS_INVALID`, "a descriptor whose signature has one flipped bit is INVALID", async (ctx) => {
    const svc = await freshService(ctx);
    const r = await hsDir(ctx);
    const d = descriptor(svc, r);
    d.signature[20] ^= 0x10;
    await expectInvalid(ctx, d, svc.blinded, "a descriptor with a corrupted signature");
  }),
  T("hsdir/expired", `${OS} HS_DIR_STATUS_INVALID (expired: published + lifetime is past)`, "a descriptor whose published + lifetime is past is INVALID", async (ctx) => {
    const svc = await freshService(ctx);
    const r = await hsDir(ctx);
    await expectInvalid(ctx, descriptor(svc, r, { publishedMs: Date.now() - 2 * 3600_000, lifetimeSeconds: 3600 }), svc.blinded, "an expired descriptor");
  }),
  T("hsdir/published-in-future", `${OS} HS_DIR_STATUS_INVALID (published more than 5 minutes ahead)`, "a descriptor published 10 minutes ahead is INVALID", async (ctx) => {
    const svc = await freshService(ctx);
    const r = await hsDir(ctx);
    await expectInvalid(ctx, descriptor(svc, r, { publishedMs: Date.now() + 10 * 60_000 }), svc.blinded, "a descriptor published 10 minutes ahead");
  }),
  T("hsdir/lifetime-too-long", `${OS} OnionDescriptor.lifetime_seconds (at most 3 hours)`, "a lifetime of 3 hours + 1 second is INVALID", async (ctx) => {
    const svc = await freshService(ctx);
    const r = await hsDir(ctx);
    await expectInvalid(ctx, descriptor(svc, r, { lifetimeSeconds: MAX_LIFETIME_SECONDS + 1 }), svc.blinded, "a descriptor with a lifetime above 3 hours");
  }),
  T("hsdir/oversized", `${OS} SignedOnionDescriptor (at most 16 KiB)`, "a validly signed descriptor above 16 KiB (in a request below 20 KiB) is INVALID", async (ctx) => {
    const svc = await freshService(ctx);
    const r = await hsDir(ctx);
    const d = descriptor(svc, r, { mutate: (x) => void (x.superencrypted = u8(randomBytes(MAX_DESCRIPTOR_BYTES + 200))) });
    check(signedDescriptorSize(d) > MAX_DESCRIPTOR_BYTES, "setup: the descriptor is not above 16 KiB");
    await expectInvalid(ctx, d, svc.blinded, "a 16.2 KiB descriptor");
  }),
  T("hsdir/fetch-unknown", `${OS} HS_DIR_STATUS_NOT_FOUND`, "fetching a blinded key nobody stored is NOT_FOUND", async (ctx) => {
    const r = await hsDir(ctx);
    const c = await circuit(ctx, pool(ctx), [r]);
    expectStatus(await fetchKey(ctx, c, (await freshService(ctx)).blinded, "fetch of an unknown key"), HsDirStatus.NOT_FOUND, "fetch of an unknown key");
  }),
  T("hsdir/not-a-directory", "relay.proto RELAY_COMMAND_BEGIN_DIR (END NOTDIRECTORY if the relay is not an HSDir)", "BEGIN_DIR to a relay that does not offer RELAY_FEATURE_HSDIR gets END NOTDIRECTORY", async (ctx) => {
    const rs = await relays(ctx);
    const { client } = dir(ctx);
    let plain: ResolvedRelay | undefined;
    for (const r of rs) {
      const d = decodeDescriptor((await client.getDescriptor({ identityKey: r.identity })).descriptor!);
      if (!d.features.includes(RelayFeature.HSDIR)) plain = r;
    }
    if (!plain) skip("every relay of the implementation offers RELAY_FEATURE_HSDIR");
    const c = await circuit(ctx, pool(ctx), [plain]);
    const s = beginDir(c);
    await s.waitConnected(ctx.ms(5000));
    check(s.ended && s.endReason === EndReason.NOTDIRECTORY, `BEGIN_DIR to a relay without RELAY_FEATURE_HSDIR: ${s.connected ? "CONNECTED" : s.ended ? `END ${EndReason[s.endReason!]}` : `nothing (${c.describeState()})`}`, "END NOTDIRECTORY");
  }, needs("relay", "directory")),

  // ---------------------------------------------------------------- intro points
  T("intro/establish", `${OS} EstablishIntro, IntroEstablished`, "ESTABLISH_INTRO with a MAC under the circuit's nonce and the auth key's signature gets INTRO_ESTABLISHED", async (ctx) => {
    const r = (await relays(ctx))[0];
    const { c } = await introCircuit(ctx, pool(ctx), r);
    check(!c.destroyed, `the intro circuit was destroyed after INTRO_ESTABLISHED: ${c.describeState()}`);
  }),
  T("intro/establish-other-circuit", `${OS} EstablishIntro.handshake_auth (bound to the circuit)`, "ESTABLISH_INTRO whose MAC uses another circuit's nonce (a replay) destroys the circuit; the auth key stays unknown", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const a = await circuit(ctx, p, [r]);
    const b = await circuit(ctx, p, [r]);
    const authKey = ed25519Generate();
    b.sendCell(0, RelayCommand.ESTABLISH_INTRO, 0, establishIntroBody(authKey, circuitNonce(a.keyMaterial[0])));
    await expectDestroyed(ctx, b, "ESTABLISH_INTRO MACed with another circuit's nonce");
    const status = await introduce(ctx, p, r, someIntroduce1(authKey.publicKey, r));
    check(status === IntroduceAckStatus.UNKNOWN_SERVICE, `INTRODUCE1 for the refused auth key: ${ackName(status)}, expected UNKNOWN_SERVICE`);
  }),
  T("intro/establish-bad-signature", `${OS} EstablishIntro.signature`, "ESTABLISH_INTRO whose signature does not verify destroys the circuit", async (ctx) => {
    const r = (await relays(ctx))[0];
    const c = await circuit(ctx, pool(ctx), [r]);
    c.sendCell(0, RelayCommand.ESTABLISH_INTRO, 0, establishIntroBody(ed25519Generate(), circuitNonce(c.keyMaterial[0]), {}, { corruptSignature: true }));
    await expectDestroyed(ctx, c, "ESTABLISH_INTRO with a bad signature");
  }),
  T("intro/establish-twice", `${OS} LIMITS AND DEFENCES (a second ESTABLISH_INTRO on a circuit)`, "a second ESTABLISH_INTRO on an intro circuit destroys it", async (ctx) => {
    const r = (await relays(ctx))[0];
    const { c } = await introCircuit(ctx, pool(ctx), r);
    c.sendCell(0, RelayCommand.ESTABLISH_INTRO, 0, establishIntroBody(ed25519Generate(), circuitNonce(c.keyMaterial[0])));
    await expectDestroyed(ctx, c, "a second ESTABLISH_INTRO");
  }),
  T("intro/not-last-hop", `${OS} LIMITS AND DEFENCES (onion-service commands only at a circuit's last hop)`, "ESTABLISH_INTRO addressed to the first hop of a two-hop circuit destroys the circuit", async (ctx) => {
    const rs = await relays(ctx);
    if (rs.length < 2) skip("needs two relays");
    const c = await circuit(ctx, pool(ctx), [rs[0], rs[1]]);
    c.sendCell(0, RelayCommand.ESTABLISH_INTRO, 0, establishIntroBody(ed25519Generate(), circuitNonce(c.keyMaterial[0])));
    await expectDestroyed(ctx, c, "ESTABLISH_INTRO to a hop with a next hop");
  }, needs("relay", "extend")),
  T("intro/introduce-relayed", `${OS} Introduce1 (INTRODUCE2 relayed unchanged), IntroduceAck`, "INTRODUCE1 for an established auth key arrives as INTRODUCE2 byte for byte; the client gets SUCCESS", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const { c, authKey } = await introCircuit(ctx, p, r);
    const since = c.mark();
    const body = someIntroduce1(authKey.publicKey, r);
    const status = await introduce(ctx, p, r, body);
    check(status === IntroduceAckStatus.SUCCESS, `INTRODUCE_ACK ${ackName(status)}, expected SUCCESS`, "SUCCESS", ackName(status));
    const got = await answer(ctx, c, RelayCommand.INTRODUCE2, since, "INTRODUCE1 relayed to the service");
    check(equal(got.cell.data, body), "INTRODUCE2 is not the client's INTRODUCE1 byte for byte", hex(sha3(body)).slice(0, 16), hex(sha3(got.cell.data)).slice(0, 16));
  }),
  T("intro/unknown-service", `${OS} IntroduceAckStatus.INTRODUCE_ACK_STATUS_UNKNOWN_SERVICE`, "INTRODUCE1 for an auth key with no intro circuit gets UNKNOWN_SERVICE and reaches no service", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const { c } = await introCircuit(ctx, p, r);
    const since = c.mark();
    const status = await introduce(ctx, p, r, someIntroduce1(ed25519Generate().publicKey, r));
    check(status === IntroduceAckStatus.UNKNOWN_SERVICE, `INTRODUCE_ACK ${ackName(status)}, expected UNKNOWN_SERVICE`, "UNKNOWN_SERVICE", ackName(status));
    check(!(await c.waitCell((x) => x.cell.command === RelayCommand.INTRODUCE2, ctx.ms(QUIET_MS), since)), "an INTRODUCE1 for another auth key reached this intro circuit");
  }),
  T("intro/bad-format", `${OS} IntroduceAckStatus.INTRODUCE_ACK_STATUS_BAD_FORMAT`, "INTRODUCE1 with a 31-byte client key and no MAC gets BAD_FORMAT and is not relayed", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const { c, authKey } = await introCircuit(ctx, p, r);
    const since = c.mark();
    const body = pb(Introduce1Schema, { authKey: authKey.publicKey, clientPublicKey: u8(randomBytes(31)), encrypted: u8(randomBytes(100)) });
    const status = await introduce(ctx, p, r, body);
    check(status === IntroduceAckStatus.BAD_FORMAT, `INTRODUCE_ACK ${ackName(status)}, expected BAD_FORMAT`, "BAD_FORMAT", ackName(status));
    check(!(await c.waitCell((x) => x.cell.command === RelayCommand.INTRODUCE2, ctx.ms(QUIET_MS), since)), "a malformed INTRODUCE1 was relayed to the service");
  }),
  T("intro/newer-circuit-replaces", `${OS} LIMITS AND DEFENCES (a newer circuit for the same auth key replaces the older one)`, "after a second circuit establishes the same auth key, INTRODUCE2 goes to the newer one", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const first = await introCircuit(ctx, p, r);
    const second = await introCircuit(ctx, p, r, { authKey: first.authKey });
    const since1 = first.c.mark();
    const since2 = second.c.mark();
    const status = await introduce(ctx, p, r, someIntroduce1(first.authKey.publicKey, r));
    check(status === IntroduceAckStatus.SUCCESS, `INTRODUCE_ACK ${ackName(status)}, expected SUCCESS`);
    await answer(ctx, second.c, RelayCommand.INTRODUCE2, since2, "INTRODUCE2 on the newer intro circuit");
    check(!first.c.inbound.some((x) => x.seq > since1 && x.cell.command === RelayCommand.INTRODUCE2), "the replaced (older) intro circuit also got the INTRODUCE2");
  }),
  T("intro/rate-limit", `${OS} EstablishIntro.introduce_rate/introduce_burst; INTRODUCE_ACK_STATUS_RATE_LIMITED`, "with introduce_rate 1 and burst 2, four INTRODUCE1 at once get at least one RATE_LIMITED; only SUCCESS ones are relayed", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const { c, authKey } = await introCircuit(ctx, p, r, { dos: { rate: 1, burst: 2 } });
    const since = c.mark();
    const k = await circuit(ctx, p, [r]);
    const mark = k.mark();
    for (let i = 0; i < 4; i++) k.sendCell(0, RelayCommand.INTRODUCE1, 0, someIntroduce1(authKey.publicKey, r));
    const end = Date.now() + ctx.ms(5000);
    const acks = () => k.inbound.filter((x) => x.seq > mark && x.cell.command === RelayCommand.INTRODUCE_ACK);
    while (acks().length < 4 && Date.now() < end && !k.destroyed) await k.waitCell(() => true, 200, k.mark());
    const statuses = acks().map((x) => parse(IntroduceAckSchema, x.cell.data).status);
    check(statuses.length === 4, `${statuses.length} of 4 INTRODUCE_ACKs arrived (${k.describeState()})`);
    const ok = statuses.filter((s) => s === IntroduceAckStatus.SUCCESS).length;
    check(statuses.includes(IntroduceAckStatus.RATE_LIMITED), `no RATE_LIMITED among 4 INTRODUCE1 sent at once with burst 2 (${statuses.map(ackName).join(", ")})`);
    check(statuses.every((s) => s === IntroduceAckStatus.SUCCESS || s === IntroduceAckStatus.RATE_LIMITED), `unexpected statuses ${statuses.map(ackName).join(", ")}`);
    await sleep(ctx.ms(QUIET_MS));
    const relayed = c.inbound.filter((x) => x.seq > since && x.cell.command === RelayCommand.INTRODUCE2).length;
    check(relayed === ok, `${relayed} INTRODUCE2 reached the service for ${ok} SUCCESS acknowledgements`);
  }),

  // ---------------------------------------------------------------- rendezvous points
  T("rendezvous/establish", `${OS} EstablishRendezvous, RendezvousEstablished`, "ESTABLISH_RENDEZVOUS with a 20-byte cookie gets RENDEZVOUS_ESTABLISHED", async (ctx) => {
    const r = (await relays(ctx))[0];
    const c = await rendezvousCircuit(ctx, pool(ctx), [r], u8(randomBytes(20)));
    check(!c.destroyed, `the rendezvous circuit was destroyed: ${c.describeState()}`);
  }),
  T("rendezvous/duplicate-cookie", `${OS} LIMITS AND DEFENCES (a cookie already waiting: DESTROY PROTOCOL)`, "a second ESTABLISH_RENDEZVOUS with a waiting cookie is destroyed; the first circuit still gets joined", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const cookie = u8(randomBytes(20));
    const first = await rendezvousCircuit(ctx, p, [r], cookie);
    const second = await circuit(ctx, p, [r]);
    second.sendCell(0, RelayCommand.ESTABLISH_RENDEZVOUS, 0, pb(EstablishRendezvousSchema, { cookie }));
    await expectDestroyed(ctx, second, "ESTABLISH_RENDEZVOUS with a cookie already waiting");
    const since = first.mark();
    const s = await circuit(ctx, p, [r]);
    s.sendCell(0, RelayCommand.RENDEZVOUS1, 0, pb(Rendezvous1Schema, { cookie, handshakeInfo: u8(randomBytes(64)) }));
    await answer(ctx, first, RelayCommand.RENDEZVOUS2, since, "RENDEZVOUS1 for the first circuit's cookie");
  }),
  T("rendezvous/join", `${OS} Rendezvous1, Rendezvous2 (the service's handshake, relayed)`, "RENDEZVOUS1 with the cookie gets the client RENDEZVOUS2 with the same handshake_info", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const cookie = u8(randomBytes(20));
    const c = await rendezvousCircuit(ctx, p, [r], cookie);
    const since = c.mark();
    const info = u8(randomBytes(64));
    const s = await circuit(ctx, p, [r]);
    s.sendCell(0, RelayCommand.RENDEZVOUS1, 0, pb(Rendezvous1Schema, { cookie, handshakeInfo: info }));
    const got = parse(Rendezvous2Schema, (await answer(ctx, c, RelayCommand.RENDEZVOUS2, since, "RENDEZVOUS1 with the cookie")).cell.data);
    check(equal(got.handshakeInfo, info), "RENDEZVOUS2's handshake_info is not RENDEZVOUS1's", hex(info).slice(0, 32), hex(got.handshakeInfo).slice(0, 32));
    check(!s.destroyed, `the service's circuit was destroyed after joining: ${s.describeState()}`);
  }),
  T("rendezvous/unknown-cookie", `${OS} LIMITS AND DEFENCES (RENDEZVOUS1 with a cookie not waiting: DESTROY PROTOCOL)`, "RENDEZVOUS1 with a cookie nobody established destroys the service's circuit", async (ctx) => {
    const r = (await relays(ctx))[0];
    const s = await circuit(ctx, pool(ctx), [r]);
    s.sendCell(0, RelayCommand.RENDEZVOUS1, 0, pb(Rendezvous1Schema, { cookie: u8(randomBytes(20)), handshakeInfo: u8(randomBytes(64)) }));
    await expectDestroyed(ctx, s, "RENDEZVOUS1 for an unknown cookie");
  }),
  T("rendezvous/one-role-per-circuit", `${OS} LIMITS AND DEFENCES (no second role on an intro, rendezvous or joined circuit)`, "ESTABLISH_RENDEZVOUS on an established intro circuit destroys it", async (ctx) => {
    const r = (await relays(ctx))[0];
    const { c } = await introCircuit(ctx, pool(ctx), r);
    c.sendCell(0, RelayCommand.ESTABLISH_RENDEZVOUS, 0, pb(EstablishRendezvousSchema, { cookie: u8(randomBytes(20)) }));
    await expectDestroyed(ctx, c, "ESTABLISH_RENDEZVOUS on an intro circuit");
  }),
  T("rendezvous/cookie-joined-once", `${OS} LIMITS AND DEFENCES (a rendezvous point joins each cookie once)`, "a second RENDEZVOUS1 with a cookie already joined is destroyed and reaches no client", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const cookie = u8(randomBytes(20));
    const c = await rendezvousCircuit(ctx, p, [r], cookie);
    const since = c.mark();
    const s1 = await circuit(ctx, p, [r]);
    s1.sendCell(0, RelayCommand.RENDEZVOUS1, 0, pb(Rendezvous1Schema, { cookie, handshakeInfo: u8(randomBytes(64)) }));
    const first = await answer(ctx, c, RelayCommand.RENDEZVOUS2, since, "the first RENDEZVOUS1");
    const s2 = await circuit(ctx, p, [r]);
    s2.sendCell(0, RelayCommand.RENDEZVOUS1, 0, pb(Rendezvous1Schema, { cookie, handshakeInfo: u8(randomBytes(64)) }));
    await expectDestroyed(ctx, s2, "a second RENDEZVOUS1 with a joined cookie");
    check(!(await c.waitCell((x) => x.cell.command === RelayCommand.RENDEZVOUS2, ctx.ms(QUIET_MS), first.seq)), "the client got a second RENDEZVOUS2 for its cookie");
  }),
  T("rendezvous/end-to-end", `${OS} HS-NTOR (end-to-end keys: SHA3-256 digests, AES-256-CTR), INTRODUCTION AND RENDEZVOUS step 5`, "through the joined circuits, the suite's client and service complete hs-ntor and a 100 KB stream echoes back intact (SENDMEs both ways)", async (ctx) => {
    const rs = await relays(ctx);
    const rp = rs[rs.length - 1];
    const p = pool(ctx);
    const cookie = u8(randomBytes(20));
    const c = await rendezvousCircuit(ctx, p, await pathTo(ctx, rp), cookie);
    const since = c.mark();
    const keys = { encKey: x25519Generate(), authKey: ed25519Generate().publicKey, subcredential: u8(randomBytes(32)) };
    const intro = clientIntroduce({ encKey: keys.encKey.publicKey, authKey: keys.authKey, subcredential: keys.subcredential }, introduceHeader(keys.authKey), u8(randomBytes(64)));
    const opened = serviceOpen(keys, introduceHeader(keys.authKey), intro.X, intro.encrypted, intro.mac)!;
    const { handshakeInfo, seed } = serviceRespond(keys, intro.X, opened.xb);
    const s = await circuit(ctx, p, await pathTo(ctx, rp));
    s.sendCell(s.lastHop, RelayCommand.RENDEZVOUS1, 0, pb(Rendezvous1Schema, { cookie, handshakeInfo }));
    s.addOnionHop(endToEndKeys(seed), "service");
    const echo = await echoServer(ctx);
    const sockets = new Set<net.Socket>();
    ctx.defer(() => sockets.forEach((x) => x.destroy()));
    serveStreams(s, [{ virtualPort: 80, host: "127.0.0.1", port: echo.port }], sockets);
    const r2 = parse(Rendezvous2Schema, (await answer(ctx, c, RelayCommand.RENDEZVOUS2, since, "RENDEZVOUS1")).cell.data);
    c.addOnionHop(endToEndKeys(clientFinish(intro.state, r2.handshakeInfo)), "client");
    await echoThrough(ctx, c, 80, 100_000, "a stream through the rendezvous point");
    check(!s.anomalies.length, `the service side saw: ${s.anomalies.slice(0, 3).join("; ")}`);
  }),
  T("rendezvous/destroy-propagates", `${OS} INTRODUCTION AND RENDEZVOUS step 4 (the joined circuits live and die together)`, "a DESTROY on the service's joined circuit destroys the client's", async (ctx) => {
    const r = (await relays(ctx))[0];
    const p = pool(ctx);
    const cookie = u8(randomBytes(20));
    const c = await rendezvousCircuit(ctx, p, [r], cookie);
    const since = c.mark();
    const s = await circuit(ctx, p, [r]);
    s.sendCell(0, RelayCommand.RENDEZVOUS1, 0, pb(Rendezvous1Schema, { cookie, handshakeInfo: u8(randomBytes(64)) }));
    await answer(ctx, c, RelayCommand.RENDEZVOUS2, since, "RENDEZVOUS1");
    s.destroy();
    const gone = await c.waitDestroyed(ctx.ms(5000));
    check(gone && c.destroyedBy === "peer", `the client's circuit outlived the service's: ${c.describeState()}`, "DESTROY", c.destroyed ? c.describeState() : "open");
  }),

  // ---------------------------------------------------------------- the implementation's service
  T(
    "service/reachable",
    `${OS} INTRODUCTION AND RENDEZVOUS, HS-NTOR; control.proto ControlService.AddOnionService`,
    "a service added with AddOnionService is reached by the suite's client (descriptor, intro, rendezvous, AUTH_INPUT_MAC) and echoes 64 KB intact",
    async (ctx) => {
      const address = await addService(ctx, await echoServer(ctx));
      const c = await reach(ctx, pool(ctx), address);
      await echoThrough(ctx, c, 80, 64_000, `a stream to ${address.slice(0, 12)}…:80`);
      await c.begin("ignored.example", 80, { timeoutMs: ctx.ms(10_000) }).catch((e) => fail(`BEGIN with a host (which the service ignores): ${(e as Error).message}`));
    },
    { ...needs("addOnionService", "directory", "relay"), timeoutMs: 120_000 },
  ),
  T(
    "service/descriptor",
    `${OS} HSDIRS AND THE RING, DESCRIPTOR`,
    "the service's descriptor is on every HSDir of the fetch set, signed by the blinded key of its address, for the consensus's period",
    async (ctx) => {
      const address = await addService(ctx, await echoServer(ctx));
      const p = pool(ctx);
      const c = await consensus(ctx);
      const { period: per, srv } = currentPeriod(c);
      const d = await fetchWithRetry(ctx, p, c, address);
      const desc = parse(OnionDescriptorSchema, d.signed.descriptor);
      check(desc.periodNum === per.num, `descriptor period_num ${desc.periodNum}, the consensus's period is ${per.num}`);
      check(desc.lifetimeSeconds > 0 && desc.lifetimeSeconds <= MAX_LIFETIME_SECONDS, `lifetime_seconds ${desc.lifetimeSeconds} is not within 1..10800`);
      const ring = responsibleHsDirs(hsDirsOf(c), d.blindedKey, srv, per, FETCH_SPREAD);
      const end = Date.now() + ctx.ms(20_000);
      for (const h of ring) {
        for (;;) {
          const hc = await circuit(ctx, p, [relayInfoOf(h)]);
          const res = await dirAsk(ctx, hc, { request: { case: "fetchBlindedKey", value: d.blindedKey } }, `fetch from HSDir ${h.nickname}`);
          hc.destroy();
          if (res.status === HsDirStatus.OK) break;
          if (Date.now() > end) fail(`HSDir ${h.nickname} of the fetch set does not hold the descriptor (${statusName(res.status)}): a service uploads to every HSDir of the store set`);
          await sleep(1000);
        }
      }
    },
    { ...needs("addOnionService", "directory", "relay"), timeoutMs: 120_000 },
  ),
  T(
    "service/stream-limit",
    `${OS} LIMITS AND DEFENCES (at most 256 streams per rendezvous circuit, END RESOURCELIMIT beyond)`,
    "256 streams open at once on one rendezvous circuit are served; the 257th gets END RESOURCELIMIT",
    async (ctx) => {
      const address = await addService(ctx, await echoServer(ctx));
      const c = await reach(ctx, pool(ctx), address);
      const streams = Array.from({ length: 256 }, () => c.openStream("", 80));
      const connected = await Promise.all(streams.map((s) => s.waitConnected(ctx.ms(20_000))));
      const ok = connected.filter(Boolean).length;
      check(ok === 256, `${ok} of 256 streams were CONNECTED (${streams.filter((s) => s.ended).length} ended: ${[...new Set(streams.filter((s) => s.ended).map((s) => EndReason[s.endReason!]))].join(", ")}; ${c.describeState()})`);
      const extra = c.openStream("", 80);
      await extra.waitConnected(ctx.ms(10_000));
      check(extra.ended && extra.endReason === EndReason.RESOURCELIMIT, `the 257th stream: ${extra.connected ? "CONNECTED" : extra.ended ? `END ${EndReason[extra.endReason!]}` : "no answer"}`, "END RESOURCELIMIT");
    },
    { ...needs("addOnionService", "directory", "relay"), timeoutMs: 120_000 },
  ),
  T(
    "service/replayed-introduction",
    `${OS} LIMITS AND DEFENCES (the service's replay cache; at most 1 introduction per cookie)`,
    "the same INTRODUCE1 sent again, with its cookie waiting again at a rendezvous point, gets no RENDEZVOUS1",
    async (ctx) => {
      const address = await addService(ctx, await echoServer(ctx));
      const p = pool(ctx);
      const c = await consensus(ctx);
      const d = await fetchWithRetry(ctx, p, c, address);
      const rs = await relays(ctx);
      const rp = rs[0];
      const ip = d.introPoints[0];
      const cookie = u8(randomBytes(20));
      const { body } = buildIntroduce1({ encKey: ip.encKey, authKey: ip.authKey, subcredential: d.subcredential }, cookie, rp);
      for (const round of ["first", "replayed"] as const) {
        const rc = await rendezvousCircuit(ctx, p, [rp], cookie);
        const since = rc.mark();
        const k = await circuit(ctx, p, [relayOf(ip)]);
        const mark = k.mark();
        k.sendCell(0, RelayCommand.INTRODUCE1, 0, body);
        // Whether an intro point relays the replay is its affair; the service must not answer it.
        if (round === "first") {
          const status = parse(IntroduceAckSchema, (await answer(ctx, k, RelayCommand.INTRODUCE_ACK, mark, "the first INTRODUCE1")).cell.data).status;
          check(status === IntroduceAckStatus.SUCCESS, `the first INTRODUCE1: INTRODUCE_ACK ${ackName(status)}, expected SUCCESS`);
        }
        const r2 = await rc.waitCell((x) => x.cell.command === RelayCommand.RENDEZVOUS2, ctx.ms(round === "first" ? 10_000 : 3000), since);
        if (round === "first") check(r2, `the service did not answer the first INTRODUCE1 with RENDEZVOUS1 (${rc.describeState()})`);
        else check(!r2, "the service answered a replayed INTRODUCE2 (same encrypted part, same cookie) with another RENDEZVOUS1");
        rc.destroy();
      }
    },
    { ...needs("addOnionService", "directory", "relay"), timeoutMs: 120_000 },
  ),
  T(
    "service/bad-introduce-mac",
    `${OS} HS-NTOR (the service checks the MAC before anything else)`,
    "an INTRODUCE1 with one flipped MAC bit gets no RENDEZVOUS1; the same introduction with its MAC intact does",
    async (ctx) => {
      const address = await addService(ctx, await echoServer(ctx));
      const p = pool(ctx);
      const d = await fetchWithRetry(ctx, p, await consensus(ctx), address);
      const rp = (await relays(ctx))[0];
      const ip = d.introPoints[0];
      for (const bad of [true, false]) {
        const cookie = u8(randomBytes(20));
        const rc = await rendezvousCircuit(ctx, p, [rp], cookie);
        const since = rc.mark();
        const { body } = buildIntroduce1({ encKey: ip.encKey, authKey: ip.authKey, subcredential: d.subcredential }, cookie, rp);
        const m = parse(Introduce1Schema, body);
        if (bad) m.mac[5] ^= 0x01;
        const k = await circuit(ctx, p, [relayOf(ip)]);
        k.sendCell(0, RelayCommand.INTRODUCE1, 0, pb(Introduce1Schema, m));
        const r2 = await rc.waitCell((x) => x.cell.command === RelayCommand.RENDEZVOUS2, ctx.ms(bad ? 3000 : 10_000), since);
        if (bad) check(!r2, "the service answered an INTRODUCE2 whose MAC does not check");
        else check(r2, `the service did not answer a valid INTRODUCE2 (${rc.describeState()})`);
      }
    },
    { ...needs("addOnionService", "directory", "relay"), timeoutMs: 120_000 },
  ),

  // ---------------------------------------------------------------- the implementation's client
  T(
    "client/socks-to-suite-service",
    `${OS} INTRODUCTION AND RENDEZVOUS (client side); README client/* (SOCKS5)`,
    "the proxy reaches the suite's own onion service by its .meow name over SOCKS5; 64 KB echo intact",
    async (ctx) => {
      const echo = await echoServer(ctx);
      const introRelays = await relays(ctx);
      const svc = await SuiteOnionService.start({ consensus: await listingAll(ctx), ports: [{ virtualPort: 80, host: "127.0.0.1", port: echo.port }], introRelays, timeoutMs: ctx.ms(8000) }).catch((e) =>
        fail(`setup: the suite's onion service did not start: ${(e as Error).message}`),
      );
      ctx.defer(() => svc.stop());
      const proxy = ctx.target.proxy!;
      const t = await socks5Connect(proxy, { host: svc.address, port: 80 }, { timeoutMs: ctx.ms(60_000), atyp: 3 }).catch((e) => fail(`SOCKS5 CONNECT to ${svc.address}:80 failed: ${(e as Error).message}`));
      ctx.defer(() => t.socket.destroy());
      check(t.code === 0, `SOCKS5 CONNECT to the suite's service: reply ${t.code}, expected 0 (introductions answered: ${svc.counts.answered}, refused: ${svc.counts.refused})`);
      const data = patternBytes(64_000, "onion client");
      const chunks: Buffer[] = [t.rest];
      let got = t.rest.length;
      t.socket.on("data", (d: Buffer) => {
        chunks.push(d);
        got += d.length;
      });
      t.socket.write(data);
      const end = Date.now() + ctx.ms(30_000);
      while (got < data.length && Date.now() < end && !t.socket.destroyed) await sleep(50);
      check(sha256hex(Buffer.concat(chunks)) === sha256hex(data), `${got} of ${data.length} bytes came back through the onion service (or different bytes)`);
    },
    { ...needs("proxy", "directory"), timeoutMs: 120_000 },
  ),
  T("client/bad-address", `${OS} KEYS AND ADDRESS (a client refuses a name whose checksum is wrong, and .onion names)`, "SOCKS5 CONNECT to a .meow name with a wrong checksum, or to a .onion name, is refused", async (ctx) => {
    const proxy = ctx.target.proxy!;
    const good = onionAddress(ed25519Generate().publicKey);
    const bad = `${good[0] === "a" ? "b" : "a"}${good.slice(1)}`;
    for (const name of [bad, `${good.slice(0, 56)}.onion`]) {
      const t = await socks5Connect(proxy, { host: name, port: 80 }, { timeoutMs: ctx.ms(20_000), atyp: 3 }).catch((e) => fail(`SOCKS5 CONNECT to ${name}: ${(e as Error).message}`));
      t.socket.destroy();
      check(t.code !== 0, `SOCKS5 CONNECT to ${name.slice(-20)} succeeded`, "a SOCKS error reply", "0 (succeeded)");
    }
  }, needs("proxy")),
];
