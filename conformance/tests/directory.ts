/**
 * directory/*: DirectoryService behaviour (directory.proto), consensus documents
 * (consensus.proto) and reflection, black box over Connect / gRPC.
 */
import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ServerReflection, ServerReflectionRequestSchema, type ServerReflectionRequest } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { type Consensus, type ConsensusRelay, RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import { ExitAction } from "../../gen/meowonion/v1/descriptor_pb.js";
import { DirectoryService } from "../../gen/meowonion/v1/directory_pb.js";
import { compare, equal, hex, u8 } from "../lib/bytes.js";
import { type Ed25519Key, ed25519Generate, sha256, x25519Generate } from "../lib/crypto.js";
import { directoryClient, type TransportKind } from "../lib/directory-client.js";
import { buildDescriptor, buildHeartbeat, verifyConsensus } from "../lib/documents.js";
import { hasAccept } from "../lib/exit-policy.js";
import { RefRelay } from "../lib/ref/relay.js";
import { closedPort } from "../lib/tcp.js";
import { type TestCase, type TestContext, check, fail, skip } from "../framework.js";
import { codeName, dir, expectCode, expectOk, fetchConsensus, fetchConsensusListing, sleep } from "./helpers.js";

const T = (
  id: string,
  clause: string,
  title: string,
  run: (ctx: TestContext) => Promise<void>,
  extra: Partial<TestCase> = {},
): TestCase => ({ id: `directory/${id}`, clause, level: "MUST", requires: ["directory"], title, run, ...extra });

const PUB = "directory.proto DirectoryService.PublishDescriptor";
const HB = "directory.proto DirectoryService.Heartbeat";

/** A fresh identity with a valid descriptor pointing at a port where nothing listens. */
async function freshDescriptor(over: Partial<Parameters<typeof buildDescriptor>[0]> = {}) {
  const identity = ed25519Generate();
  return { identity, ...buildDescriptor({ identity, onionKey: x25519Generate(), host: "127.0.0.1", port: await closedPort(), nickname: "conformance", ...over }) };
}

async function publishFresh(ctx: TestContext): Promise<{ identity: Ed25519Key }> {
  const { client } = dir(ctx);
  const d = await freshDescriptor();
  await expectOk(client.publishDescriptor({ descriptor: d.signed }), "publishing a valid descriptor");
  return d;
}

// ---------------------------------------------------------------------------------------------
// The fleet: relays of the suite's own, published to the directory under test, to watch which
// ones the directory lists. One real listener answering the link handshake (must be listed),
// one descriptor pointing at a listener with ANOTHER identity, one at a closed port (never listed).

export interface Fleet {
  good: RefRelay;
  liar: { identity: Ed25519Key; listener: RefRelay };
  dead: { identity: Ed25519Key };
  seen: { consensus: Consensus; at: number }[];
  startedAt: number;
  interval: number;
  /** Wait until `pred` holds on some consensus seen after `since`, up to `ms`. */
  waitFor(pred: (c: Consensus) => boolean, ms: number, since?: number): Promise<Consensus | undefined>;
  errors: string[];
}

export async function fleet(ctx: TestContext): Promise<Fleet> {
  const { url, key } = dir(ctx);
  return ctx.resource(
    "directory-fleet",
    async () => {
      const client = directoryClient(url);
      // Fails (for every test using the fleet) if no verifiable consensus can be had at all.
      const first = await fetchConsensus(ctx);
      const interval = first.interval;
      const good = new RefRelay({ nickname: "confGood", exitPolicy: "accept 127.0.0.0/8:1-65535", directoryUrl: url, heartbeatSeconds: 10 });
      await good.start();
      const listener = new RefRelay({ nickname: "confImpostor" });
      await listener.start();
      const liarId = ed25519Generate();
      const deadId = ed25519Generate();
      const errors: string[] = [];
      const lied = buildDescriptor({ identity: liarId, onionKey: x25519Generate(), host: listener.host, port: listener.port, nickname: "confLiar" });
      const dead = buildDescriptor({ identity: deadId, onionKey: x25519Generate(), host: "127.0.0.1", port: await closedPort(), nickname: "confDead" });
      for (const d of [lied, dead]) await client.publishDescriptor({ descriptor: d.signed }).catch((e) => errors.push(`publish: ${ConnectError.from(e).rawMessage}`));
      const beat = () => {
        for (const id of [liarId, deadId]) client.heartbeat(buildHeartbeat(id)).catch((e) => errors.push(`heartbeat: ${ConnectError.from(e).rawMessage}`));
      };
      beat();
      const beatTimer = setInterval(beat, 10_000);
      const seen: Fleet["seen"] = [];
      let lastBytes: Uint8Array | undefined;
      const waiters = new Set<() => void>();
      const poll = setInterval(async () => {
        try {
          const res = await client.getConsensus({});
          if (!res.consensus || (lastBytes && equal(lastBytes, res.consensus.consensus))) return;
          lastBytes = res.consensus.consensus;
          const v = verifyConsensus(res.consensus, key);
          if (v.consensus) seen.push({ consensus: v.consensus, at: Date.now() });
          for (const w of waiters) w();
        } catch {}
      }, 300);
      const f: Fleet = {
        good,
        liar: { identity: liarId, listener },
        dead: { identity: deadId },
        seen,
        startedAt: Date.now(),
        interval,
        errors,
        async waitFor(pred, ms, since = 0) {
          const end = Date.now() + ms;
          for (;;) {
            const hit = seen.find((s) => s.at >= since && pred(s.consensus));
            if (hit) return hit.consensus;
            if (Date.now() > end) return undefined;
            await new Promise<void>((r) => {
              const t = setTimeout(r, 500);
              waiters.add(() => {
                clearTimeout(t);
                r();
              });
            });
          }
        },
      };
      (f as unknown as { stop: () => Promise<void> }).stop = async () => {
        clearInterval(poll);
        clearInterval(beatTimer);
        await good.stop();
        await listener.stop();
      };
      return f;
    },
    (f) => (f as unknown as { stop: () => Promise<void> }).stop(),
  );
}

export const listed = (c: Consensus, id: Uint8Array) => c.relays.find((r) => equal(r.identityKey, id));
/** How long to wait for the directory to test and list a relay: 4 intervals + 15 s, at most 150 s. */
const listWait = (f: Fleet, ctx: TestContext) => ctx.ms(Math.min(150_000, f.interval * 4000 + 15_000));

export async function goodListed(ctx: TestContext, f: Fleet): Promise<Consensus> {
  const c = await f.waitFor((c) => !!listed(c, f.good.identity.publicKey), listWait(f, ctx));
  if (!c) fail(`the suite's relay (real listener, valid descriptor, heartbeats) was not listed within ${Math.round(listWait(f, ctx) / 1000)} s (interval ${f.interval} s)${f.errors.length ? `; ${f.errors[0]}` : ""}`);
  return c;
}

/** After the good relay is listed, wait one more interval so the directory had every chance. */
async function settle(ctx: TestContext, f: Fleet): Promise<void> {
  await goodListed(ctx, f);
  const firstGood = f.seen.find((s) => listed(s.consensus, f.good.identity.publicKey))!;
  const wait = firstGood.at + f.interval * 1000 + 1500 - Date.now();
  if (wait > 0) await sleep(wait);
}

export function flagNames(r: ConsensusRelay): string {
  return r.flags.map((f) => RelayFlag[f] ?? f).join(",");
}

export const directoryTests: TestCase[] = [
  // ------------------------------------------------------------------ publish
  T("publish/valid", PUB, "a valid signed descriptor is accepted; the digest is hex SHA-256 of the descriptor bytes", async (ctx) => {
    const { client } = dir(ctx);
    const d = await freshDescriptor();
    const res = await expectOk(client.publishDescriptor({ descriptor: d.signed }), "valid descriptor");
    check(res.descriptorDigest.toLowerCase() === hex(sha256(d.bytes)), "PublishDescriptorResponse.descriptor_digest is not the hex SHA-256 of the descriptor bytes", hex(sha256(d.bytes)), res.descriptorDigest);
  }),
  T("publish/bad-signature", PUB, "a descriptor whose signature does not verify is UNAUTHENTICATED", async (ctx) => {
    const d = await freshDescriptor({ corruptSignature: true });
    await expectCode(dir(ctx).client.publishDescriptor({ descriptor: d.signed }), Code.Unauthenticated, "descriptor with a corrupted signature");
  }),
  T("publish/signed-by-other-key", `${PUB}; descriptor.proto SignedDescriptor`, "a descriptor signed by a key other than its identity_key is UNAUTHENTICATED", async (ctx) => {
    const d = await freshDescriptor({ signWith: ed25519Generate() });
    await expectCode(dir(ctx).client.publishDescriptor({ descriptor: d.signed }), Code.Unauthenticated, "descriptor signed by another key");
  }),
  T("publish/wrong-domain", `${PUB}; descriptor.proto SIGNATURES (domain separation)`, "a signature made in another domain (heartbeat) does not authenticate a descriptor", async (ctx) => {
    const d = await freshDescriptor();
    const { signDomain } = await import("../lib/crypto.js");
    d.signed.signature = signDomain(d.identity, "meowonion-heartbeat-v1", d.bytes);
    await expectCode(dir(ctx).client.publishDescriptor({ descriptor: d.signed }), Code.Unauthenticated, "descriptor signed in the heartbeat domain");
  }),
  T("publish/future-published", `${PUB}; descriptor.proto RelayDescriptor.published`, "published more than 5 minutes in the future is OUT_OF_RANGE", async (ctx) => {
    const d = await freshDescriptor({ publishedMs: Date.now() + 10 * 60_000, expiresMs: Date.now() + 20 * 3600_000 });
    await expectCode(dir(ctx).client.publishDescriptor({ descriptor: d.signed }), Code.OutOfRange, "descriptor published 10 minutes in the future");
  }),
  T("publish/expired", `${PUB}; descriptor.proto RelayDescriptor.expires`, "a descriptor whose expires is in the past is OUT_OF_RANGE", async (ctx) => {
    const d = await freshDescriptor({ publishedMs: Date.now() - 3 * 3600_000, expiresMs: Date.now() - 3600_000 });
    await expectCode(dir(ctx).client.publishDescriptor({ descriptor: d.signed }), Code.OutOfRange, "expired descriptor");
  }),
  T("publish/older", PUB, "a descriptor older than the one held is FAILED_PRECONDITION", async (ctx) => {
    const { client } = dir(ctx);
    const identity = ed25519Generate();
    const onionKey = x25519Generate();
    const port = await closedPort();
    const now = Date.now();
    const newer = buildDescriptor({ identity, onionKey, host: "127.0.0.1", port, publishedMs: now - 10_000 });
    const older = buildDescriptor({ identity, onionKey, host: "127.0.0.1", port, publishedMs: now - 70_000 });
    await expectOk(client.publishDescriptor({ descriptor: newer.signed }), "first descriptor");
    await expectCode(client.publishDescriptor({ descriptor: older.signed }), Code.FailedPrecondition, "older descriptor for the same identity");
  }),
  T("publish/same-time", PUB, "a different descriptor with the same published time is FAILED_PRECONDITION", async (ctx) => {
    const { client } = dir(ctx);
    const identity = ed25519Generate();
    const now = Date.now() - 5000;
    const a = buildDescriptor({ identity, onionKey: x25519Generate(), host: "127.0.0.1", port: await closedPort(), publishedMs: now, nickname: "first" });
    const b = buildDescriptor({ identity, onionKey: x25519Generate(), host: "127.0.0.1", port: await closedPort(), publishedMs: now, nickname: "second" });
    await expectOk(client.publishDescriptor({ descriptor: a.signed }), "first descriptor");
    await expectCode(client.publishDescriptor({ descriptor: b.signed }), Code.FailedPrecondition, "second descriptor with the same published time");
  }),
  T("publish/identical", PUB, "republishing identical bytes is ALREADY_EXISTS", async (ctx) => {
    const { client } = dir(ctx);
    const d = await freshDescriptor();
    await expectOk(client.publishDescriptor({ descriptor: d.signed }), "first publish");
    await expectCode(client.publishDescriptor({ descriptor: d.signed }), Code.AlreadyExists, "identical descriptor bytes");
  }),
  T("publish/newer-replaces", `${PUB}; DirectoryService.GetDescriptor`, "a newer descriptor replaces the held one (GetDescriptor returns it)", async (ctx) => {
    const { client } = dir(ctx);
    const identity = ed25519Generate();
    const port = await closedPort();
    const a = buildDescriptor({ identity, onionKey: x25519Generate(), host: "127.0.0.1", port, publishedMs: Date.now() - 60_000 });
    const b = buildDescriptor({ identity, onionKey: x25519Generate(), host: "127.0.0.1", port, publishedMs: Date.now() - 1000 });
    await expectOk(client.publishDescriptor({ descriptor: a.signed }), "first descriptor");
    await expectOk(client.publishDescriptor({ descriptor: b.signed }), "newer descriptor");
    const got = await expectOk(client.getDescriptor({ identityKey: identity.publicKey }), "GetDescriptor");
    check(got.descriptor && equal(got.descriptor.descriptor, b.bytes), "GetDescriptor does not return the newer descriptor's bytes");
  }),
  T("publish/oversized", `${PUB}; descriptor.proto SignedDescriptor (at most 8 KiB)`, "a signed descriptor above 8 KiB (valid signature) is RESOURCE_EXHAUSTED", async (ctx) => {
    // Pad with an unknown field (number 1000) so that no known field is over its own limit.
    const pad = new Uint8Array([0xc2, 0x3e, 0x80, 0x48, ...new Uint8Array(9216)]); // tag 1000/LEN, varint 9216
    const d = await freshDescriptor({ appendBytes: pad });
    check(toBinary((await import("../../gen/meowonion/v1/descriptor_pb.js")).SignedDescriptorSchema, d.signed).length > 8192, "suite bug: padded descriptor not above 8 KiB");
    await expectCode(dir(ctx).client.publishDescriptor({ descriptor: d.signed }), Code.ResourceExhausted, "signed descriptor of ~9.3 KB");
  }),
  T("publish/request-too-large", "directory.proto ERRORS (a request larger than 64 KiB)", "a request above 64 KiB is RESOURCE_EXHAUSTED", async (ctx) => {
    const d = await freshDescriptor();
    d.signed.signature = new Uint8Array(70 * 1024);
    await expectCode(dir(ctx).client.publishDescriptor({ descriptor: d.signed }), Code.ResourceExhausted, "70 KiB request");
  }),
  T("publish/missing-descriptor", "directory.proto PublishDescriptorRequest.descriptor (required); ERRORS", "a request without a descriptor is INVALID_ARGUMENT", async (ctx) => {
    await expectCode(dir(ctx).client.publishDescriptor({}), Code.InvalidArgument, "PublishDescriptor without a descriptor");
  }),
  ...(
    [
      ["address-unspecified", "0.0.0.0 as ipv4_address", (d) => (d.ipv4Address = "0.0.0.0")],
      ["address-malformed", "ipv4_address 300.1.2.3", (d) => (d.ipv4Address = "300.1.2.3")],
      ["address-multicast", "multicast ipv4_address 224.0.0.1", (d) => (d.ipv4Address = "224.0.0.1")],
      ["address-missing", "no address at all", (d) => (d.ipv4Address = "")],
      ["port-zero", "or_port 0", (d) => (d.orPort = 0)],
      ["port-too-large", "or_port 70000", (d) => (d.orPort = 70000)],
      ["nickname-invalid", "nickname with a space and 20 characters", (d) => (d.nickname = "not a valid nickname")],
      ["onion-key-length", "31-byte ntor_onion_key", (d) => (d.ntorOnionKey = d.ntorOnionKey.slice(0, 31))],
      ["exit-rule-unspecified", "exit rule with action UNSPECIFIED", (d) => d.exitPolicy!.rules.push({ $typeName: "meowonion.v1.ExitRule", action: ExitAction.UNSPECIFIED, addressPrefix: "*", portMin: 1, portMax: 80 })],
      ["exit-rule-ports", "exit rule with port_min > port_max", (d) => d.exitPolicy!.rules.push({ $typeName: "meowonion.v1.ExitRule", action: ExitAction.ACCEPT, addressPrefix: "*", portMin: 90, portMax: 80 })],
      ["expires-too-far", "expires 72 hours after published", (d) => (d.expires = { ...d.published!, seconds: d.published!.seconds + 72n * 3600n })],
      ["family-key-length", "family entry of 5 bytes", (d) => d.family.push(new Uint8Array(5))],
    ] as [string, string, (d: import("../../gen/meowonion/v1/descriptor_pb.js").RelayDescriptor) => void][]
  ).map(([name, what, mutate]) =>
    T(`publish/invalid/${name}`, `${PUB}; descriptor.proto RelayDescriptor`, `a descriptor with ${what} is INVALID_ARGUMENT`, async (ctx) => {
      const d = await freshDescriptor({ exitPolicy: "reject *:*", mutate });
      await expectCode(dir(ctx).client.publishDescriptor({ descriptor: d.signed }), Code.InvalidArgument, `descriptor with ${what}`);
    }),
  ),

  // ------------------------------------------------------------------ heartbeat
  T("heartbeat/ok", HB, "a signed heartbeat from a published relay is accepted", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    await expectOk(dir(ctx).client.heartbeat(buildHeartbeat(identity)), "valid heartbeat");
  }),
  T("heartbeat/not-running-until-reachable", `${HB}; directory.proto HeartbeatResponse.running`, "a relay whose or_port does not answer is not reported running", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    const res = await expectOk(dir(ctx).client.heartbeat(buildHeartbeat(identity)), "valid heartbeat");
    check(res.running === false, "HeartbeatResponse.running is true for a relay whose or_port has nothing listening (no reachability test can have passed)", "false", "true");
  }),
  T("heartbeat/replay", HB, "a heartbeat with a nonce already seen is ALREADY_EXISTS", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    const hb = buildHeartbeat(identity);
    await expectOk(dir(ctx).client.heartbeat(hb), "first heartbeat");
    await expectCode(dir(ctx).client.heartbeat(hb), Code.AlreadyExists, "the same heartbeat again");
  }),
  T("heartbeat/replay-new-time", HB, "a new heartbeat reusing a nonce is ALREADY_EXISTS", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    const nonce = u8(randomBytes(16));
    await expectOk(dir(ctx).client.heartbeat(buildHeartbeat(identity, { nonce, sentAtMs: Date.now() - 2000 })), "first heartbeat");
    await expectCode(dir(ctx).client.heartbeat(buildHeartbeat(identity, { nonce })), Code.AlreadyExists, "heartbeat with a reused nonce and a new time");
  }),
  T("heartbeat/stale", HB, "sent_at 2 minutes in the past is OUT_OF_RANGE", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    await expectCode(dir(ctx).client.heartbeat(buildHeartbeat(identity, { sentAtMs: Date.now() - 120_000 })), Code.OutOfRange, "heartbeat sent 120 s ago");
  }),
  T("heartbeat/future", HB, "sent_at 2 minutes in the future is OUT_OF_RANGE", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    await expectCode(dir(ctx).client.heartbeat(buildHeartbeat(identity, { sentAtMs: Date.now() + 120_000 })), Code.OutOfRange, "heartbeat sent 120 s in the future");
  }),
  T("heartbeat/unknown-relay", HB, "a correctly signed heartbeat from a relay without a descriptor is NOT_FOUND", async (ctx) => {
    await expectCode(dir(ctx).client.heartbeat(buildHeartbeat(ed25519Generate())), Code.NotFound, "heartbeat from an unknown identity");
  }),
  T("heartbeat/bad-signature", HB, "a heartbeat with a corrupted signature is UNAUTHENTICATED", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    await expectCode(dir(ctx).client.heartbeat(buildHeartbeat(identity, { corruptSignature: true })), Code.Unauthenticated, "heartbeat with a bad signature");
  }),
  T("heartbeat/signed-by-other-key", HB, "a heartbeat for a relay signed by another key is UNAUTHENTICATED", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    await expectCode(dir(ctx).client.heartbeat(buildHeartbeat(identity, { signWith: ed25519Generate() })), Code.Unauthenticated, "heartbeat signed by another key");
  }),
  T("heartbeat/rate-limit", HB, "more than 10 heartbeats a minute from one relay are RESOURCE_EXHAUSTED", async (ctx) => {
    const { identity } = await publishFresh(ctx);
    const { client } = dir(ctx);
    for (let i = 0; i < 10; i++) await expectOk(client.heartbeat(buildHeartbeat(identity)), `heartbeat ${i + 1} of 10`);
    await expectCode(client.heartbeat(buildHeartbeat(identity)), Code.ResourceExhausted, "11th heartbeat within a minute");
  }),

  // ------------------------------------------------------------------ descriptors
  T("descriptor/get", "directory.proto DirectoryService.GetDescriptor", "GetDescriptor returns the exact bytes and signature published", async (ctx) => {
    const { client } = dir(ctx);
    const d = await freshDescriptor();
    await expectOk(client.publishDescriptor({ descriptor: d.signed }), "publish");
    const got = await expectOk(client.getDescriptor({ identityKey: d.identity.publicKey }), "GetDescriptor");
    check(got.descriptor && equal(got.descriptor.descriptor, d.signed.descriptor) && equal(got.descriptor.signature, d.signed.signature), "GetDescriptor does not return the SignedDescriptor as published (bytes must be kept exactly)");
  }),
  T("descriptor/get-unknown", "directory.proto DirectoryService.GetDescriptor", "GetDescriptor for an unknown key is NOT_FOUND", async (ctx) => {
    await expectCode(dir(ctx).client.getDescriptor({ identityKey: ed25519Generate().publicKey }), Code.NotFound, "unknown identity");
  }),
  T("descriptor/get-bad-key", "directory.proto DirectoryService.GetDescriptor", "GetDescriptor with a 31-byte key is INVALID_ARGUMENT", async (ctx) => {
    await expectCode(dir(ctx).client.getDescriptor({ identityKey: new Uint8Array(31) }), Code.InvalidArgument, "31-byte identity key");
  }),

  // ------------------------------------------------------------------ consensus document
  T("consensus/signature", "consensus.proto SignedConsensus; directory.proto GetConsensus", "GetConsensus carries a signature by the directory key over meowonion-consensus-v1|0x00|consensus", async (ctx) => {
    await fetchConsensus(ctx);
  }),
  T("consensus/validity-times", "consensus.proto Consensus.valid_after/fresh_until/valid_until, HOW AUTHORITIES AGREE", "valid_after = period start, fresh_until = +interval, valid_until = +3 intervals, now inside", async (ctx) => {
    const { consensus: c } = await fetchConsensus(ctx);
    check(c.validAfter && c.freshUntil && c.validUntil, "consensus is missing a validity time");
    const va = timestampMs(c.validAfter!);
    const fu = timestampMs(c.freshUntil!);
    const vu = timestampMs(c.validUntil!);
    check(va < fu && fu < vu, "validity times are not ordered valid_after < fresh_until < valid_until", "ordered", `${va} ${fu} ${vu}`);
    const interval = fu - va;
    check(vu - va === 3 * interval, "valid_until is not valid_after + 3 * interval", `${(3 * interval) / 1000} s`, `${(vu - va) / 1000} s`);
    check(va % interval === 0, "valid_after is not a multiple of the interval (floor(now / interval) * interval)");
    const now = Date.now();
    check(va <= now + 5000 && now < vu, "the consensus served is not valid now", "valid_after <= now < valid_until", `valid_after ${new Date(va).toISOString()}, valid_until ${new Date(vu).toISOString()}`);
  }),
  T("consensus/sorted", "consensus.proto Consensus.relays (sorted by identity_key)", "relays are sorted by identity_key bytewise, no duplicates", async (ctx) => {
    // Order can only be seen with two relays listed.
    if (ctx.target.relays.length < 2) skip("needs at least two relays");
    const { consensus: c } = await fetchConsensusListing(ctx, 2);
    for (let i = 1; i < c.relays.length; i++) {
      check(compare(c.relays[i - 1].identityKey, c.relays[i].identityKey) < 0, `relays ${i - 1} and ${i} are not in strictly ascending identity_key order`);
    }
  }),
  T("consensus/flags", "consensus.proto ConsensusRelay.flags, RelayFlag", "flags ascending without duplicates; every listed relay Running and Valid; Exit only with an accepting policy", async (ctx) => {
    const { consensus: c } = await fetchConsensus(ctx);
    for (const r of c.relays) {
      for (let i = 1; i < r.flags.length; i++) check(r.flags[i - 1] < r.flags[i], `relay ${r.nickname}: flags not strictly ascending (${flagNames(r)})`);
      check(r.flags.includes(RelayFlag.RUNNING) && r.flags.includes(RelayFlag.VALID), `relay ${r.nickname} listed without Running and Valid (${flagNames(r)})`);
      if (r.flags.includes(RelayFlag.EXIT)) check(hasAccept(r.exitPolicy), `relay ${r.nickname} has the Exit flag but its policy accepts nothing`);
    }
  }),
  T("consensus/authority-keys", "consensus.proto Consensus.authority_keys", "authority_keys includes the directory key, sorted, at most 16", async (ctx) => {
    const { consensus: c } = await fetchConsensus(ctx);
    check(c.authorityKeys.some((k) => equal(k, ctx.target.directory!.key)), "authority_keys does not include the directory's key");
    for (let i = 1; i < c.authorityKeys.length; i++) check(compare(c.authorityKeys[i - 1], c.authorityKeys[i]) < 0, "authority_keys not sorted");
    check(c.authorityKeys.length <= 16, "more than 16 authority keys");
  }),
  T("consensus/totals", "consensus.proto Consensus.totals, BandwidthTotals", "totals are the sums of bandwidth_weight (all, Guard, Exit)", async (ctx) => {
    const { consensus: c } = await fetchConsensus(ctx);
    const sum = (rs: ConsensusRelay[]) => rs.reduce((s, r) => s + r.bandwidthWeight, 0n);
    const t = c.totals;
    check(t, "consensus has no totals");
    check(t.total === sum(c.relays), "totals.total is not the sum of bandwidth_weight", String(sum(c.relays)), String(t.total));
    check(t.guard === sum(c.relays.filter((r) => r.flags.includes(RelayFlag.GUARD))), "totals.guard is not the sum over Guard relays");
    check(t.exit === sum(c.relays.filter((r) => r.flags.includes(RelayFlag.EXIT))), "totals.exit is not the sum over Exit relays");
  }),
  T("consensus/watch", "directory.proto DirectoryService.WatchConsensus", "WatchConsensus sends the current consensus at once, signed", async (ctx) => {
    await fetchConsensus(ctx);
    const { client, key } = dir(ctx);
    const ac = new AbortController();
    ctx.defer(() => ac.abort());
    const it = client.watchConsensus({}, { signal: ac.signal })[Symbol.asyncIterator]();
    const first = await Promise.race([it.next(), sleep(ctx.ms(5000)).then(() => undefined)]);
    check(first && !first.done && first.value.consensus, "WatchConsensus sent nothing within 5 s although a consensus exists");
    const v = verifyConsensus(first.value.consensus!, key);
    check(v.ok, `streamed consensus does not verify: ${v.why}`);
  }),
  T(
    "consensus/reachable-relay-listed",
    "consensus.proto RelayFlag.RELAY_FLAG_RUNNING; directory.proto PublishDescriptor (reachability test)",
    "a relay the suite publishes, with a real link listener and heartbeats, appears Running and Valid",
    async (ctx) => {
      const f = await fleet(ctx);
      const c = await goodListed(ctx, f);
      const r = listed(c, f.good.identity.publicKey)!;
      check(r.flags.includes(RelayFlag.RUNNING) && r.flags.includes(RelayFlag.VALID), `listed without Running/Valid (${flagNames(r)})`);
    },
    { timeoutMs: 180_000 },
  ),
  T(
    "consensus/entry-matches-descriptor",
    "consensus.proto ConsensusRelay (copied from the descriptor; descriptor_digest; bandwidth_weight)",
    "the suite relay's entry copies its descriptor: keys, address, port, policy, digest, published, weight",
    async (ctx) => {
      const f = await fleet(ctx);
      const c = await goodListed(ctx, f);
      const r = listed(c, f.good.identity.publicKey)!;
      const got = await dir(ctx).client.getDescriptor({ identityKey: f.good.identity.publicKey });
      const bytes = got.descriptor!.descriptor;
      const d = fromBinary((await import("../../gen/meowonion/v1/descriptor_pb.js")).RelayDescriptorSchema, bytes);
      check(equal(r.ntorOnionKey, f.good.onionKey.publicKey), "ntor_onion_key differs from the descriptor's");
      check(r.ipv4Address === f.good.host && r.orPort === f.good.port, "address/port differ from the descriptor's", `${f.good.host}:${f.good.port}`, `${r.ipv4Address}:${r.orPort}`);
      check(r.nickname === "confGood", "nickname differs", "confGood", r.nickname);
      check(equal(r.descriptorDigest, sha256(bytes)), "descriptor_digest is not SHA-256 of the descriptor bytes");
      check(r.published && d.published && timestampMs(r.published) === timestampMs(d.published), "published differs from the descriptor's");
      check(r.exitPolicy && r.exitPolicy.rules.length === 1 && r.exitPolicy.rules[0].addressPrefix === "127.0.0.0/8", "exit_policy not copied from the descriptor");
      const bw = d.bandwidth!;
      const want = bw.observedBytesPerSecond > 0n && bw.observedBytesPerSecond < bw.averageBytesPerSecond ? bw.observedBytesPerSecond : bw.averageBytesPerSecond;
      check(r.bandwidthWeight === want, "bandwidth_weight is not min(average, observed if nonzero)", String(want), String(r.bandwidthWeight));
    },
    { timeoutMs: 180_000 },
  ),
  T(
    "consensus/exit-flag",
    "consensus.proto RelayFlag.RELAY_FLAG_EXIT",
    "the suite relay, whose policy accepts 127.0.0.0/8:1-65535, gets the Exit flag",
    async (ctx) => {
      const f = await fleet(ctx);
      const c = await goodListed(ctx, f);
      const r = listed(c, f.good.identity.publicKey)!;
      check(r.flags.includes(RelayFlag.EXIT), `no Exit flag (${flagNames(r)})`);
    },
    { timeoutMs: 180_000 },
  ),
  T(
    "consensus/wrong-identity-not-listed",
    "consensus.proto RelayFlag.RELAY_FLAG_RUNNING (the link identity proof matched the descriptor)",
    "a descriptor whose or_port leads to a listener with another identity is never listed",
    async (ctx) => {
      const f = await fleet(ctx);
      await settle(ctx, f);
      const bad = f.seen.find((s) => listed(s.consensus, f.liar.identity.publicKey));
      check(!bad, "the relay whose or_port answers with a different identity was listed (reachability test must check the link identity proof)");
    },
    { timeoutMs: 200_000 },
  ),
  T(
    "consensus/unreachable-not-listed",
    "consensus.proto RelayFlag.RELAY_FLAG_RUNNING; directory.proto PublishDescriptor (reachability)",
    "a descriptor whose or_port has nothing listening is never listed",
    async (ctx) => {
      const f = await fleet(ctx);
      await settle(ctx, f);
      const bad = f.seen.find((s) => listed(s.consensus, f.dead.identity.publicKey));
      check(!bad, "a relay whose or_port does not answer was listed Running");
    },
    { timeoutMs: 200_000 },
  ),
  T(
    "consensus/target-relays-listed",
    "consensus.proto RelayFlag.RELAY_FLAG_RUNNING",
    "every relay of the implementation under test appears in the consensus",
    async (ctx) => {
      const relays = ctx.target.relays;
      check(relays.length > 0, "no relays named");
      const first = await fetchConsensus(ctx);
      const end = Date.now() + ctx.ms(Math.min(120_000, first.interval * 4000 + 15_000));
      for (;;) {
        const { consensus: c } = await fetchConsensus(ctx);
        const missing = relays.filter((r) => !listed(c, r.identity));
        if (!missing.length) {
          for (const r of relays) {
            const e = listed(c, r.identity)!;
            check(e.ipv4Address === r.host && e.orPort === r.port, `relay ${hex(r.identity).slice(0, 12)} listed at ${e.ipv4Address}:${e.orPort}, announced ${r.host}:${r.port}`);
          }
          return;
        }
        if (Date.now() > end) fail(`${missing.length} of ${relays.length} relays never appeared in the consensus (${missing.map((r) => `${r.host}:${r.port}`).join(", ")})`);
        await sleep(500);
      }
    },
    { requires: ["directory", "relay"], timeoutMs: 150_000 },
  ),

  // ------------------------------------------------------------------ transports and reflection
  ...(
    [
      ["grpc-h2", "gRPC over HTTP/2 (h2c)"],
      ["connect-h2", "Connect over HTTP/2 (h2c)"],
      ["connect-h1", "Connect over HTTP/1.1"],
      ["connect-get-h1", "Connect GET over HTTP/1.1 (NO_SIDE_EFFECTS)"],
      ["grpc-web-h1", "gRPC-Web over HTTP/1.1"],
    ] as [TransportKind, string][]
  ).map(([kind, what]) =>
    T(`transport/${kind}`, "directory.proto (served over Connect, gRPC and gRPC-Web on HTTP/2 and HTTP/1.1); GetConsensus NO_SIDE_EFFECTS", `GetConsensus works over ${what}`, async (ctx) => {
      const { url, key } = dir(ctx);
      const client = directoryClient(url, kind);
      try {
        const res = await client.getConsensus({});
        const v = verifyConsensus(res.consensus!, key);
        check(v.ok, `consensus over ${what} does not verify: ${v.why}`);
      } catch (e) {
        const ce = ConnectError.from(e);
        if (ce.code === Code.Unavailable && /consensus/i.test(ce.rawMessage)) return;
        fail(`GetConsensus over ${what} failed: ${codeName(ce.code)} ${ce.rawMessage.slice(0, 120)}`);
      }
    }),
  ),
  T("reflection/list-services", "directory.proto header (gRPC server reflection grpc.reflection.v1)", "reflection lists meowonion.v1.DirectoryService and describes its methods", async (ctx) => {
    const { url } = dir(ctx);
    const client = createClient(ServerReflection, createGrpcTransport({ baseUrl: url }));
    const ask = async (req: Partial<ServerReflectionRequest>) => {
      async function* one() {
        yield create(ServerReflectionRequestSchema, req as never);
      }
      for await (const res of client.serverReflectionInfo(one(), { timeoutMs: ctx.ms(5000) })) return res;
      return undefined;
    };
    let list;
    try {
      list = await ask({ messageRequest: { case: "listServices", value: "" } });
    } catch (e) {
      const ce = ConnectError.from(e);
      fail(`ServerReflectionInfo failed: ${codeName(ce.code)} ${ce.rawMessage.slice(0, 100)}`);
    }
    check(list?.messageResponse.case === "listServicesResponse", "no list_services_response");
    const names = list.messageResponse.value.service.map((s) => s.name);
    check(names.includes(DirectoryService.typeName), `reflection does not list ${DirectoryService.typeName}`, DirectoryService.typeName, names.join(", "));
    const file = await ask({ messageRequest: { case: "fileContainingSymbol", value: DirectoryService.typeName } });
    check(file?.messageResponse.case === "fileDescriptorResponse", `file_containing_symbol ${DirectoryService.typeName} gave no descriptor`);
    const protos = file.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    const svc = protos.flatMap((p) => p.service.map((s) => ({ pkg: p.package, s }))).find(({ pkg, s }) => `${pkg}.${s.name}` === DirectoryService.typeName);
    check(svc, "the returned file descriptors do not declare DirectoryService");
    const methods = svc.s.method.map((m) => m.name);
    for (const m of ["PublishDescriptor", "Heartbeat", "GetConsensus", "WatchConsensus", "GetDescriptor", "GetVote", "GetConsensusSignature"]) check(methods.includes(m), `reflected DirectoryService lacks ${m}`);
  }),
];

