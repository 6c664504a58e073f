/**
 * relay/*: a relay black box over its link port (link.proto, relay.proto), with the suite's own
 * client: link handshake and identity proof, CREATE2/CREATED2, EXTEND2, exits, flow control,
 * DESTROY rules, RELAY_EARLY limit, and malformed input on one link not hurting another.
 */
import { randomBytes } from "node:crypto";
import { DestroyReason, HandshakeType } from "../../gen/meowonion/v1/link_pb.js";
import { CongestionControlRequestSchema, EndReason, RelayCommand, SendmeSchema, TruncatedSchema } from "../../gen/meowonion/v1/relay_pb.js";
import { concat, equal, u8 } from "../lib/bytes.js";
import {
  CC_CWND_INIT,
  CC_SENDME_EVERY,
  type ClientStream,
  ClientCircuit,
  CircuitError,
  type RelayInfo,
  initiatorCircuitId,
  parse,
  pb,
} from "../lib/circuit.js";
import { ed25519Generate, relayId, x25519Generate } from "../lib/crypto.js";
import { encodeFrame, makeFrame, varint } from "../lib/frame.js";
import { hasAccept, policyAllows } from "../lib/exit-policy.js";
import { type Link, LinkHandshakeError, connectLink, createLinkServer, listen as listenOn } from "../lib/link.js";
import { encodeRelayCell } from "../lib/relay-cell.js";
import { TestServer, closedPort, patternBytes, sha256hex } from "../lib/tcp.js";
import type { ResolvedRelay } from "../target.js";
import { type Feature, type TestCase, type TestContext, check, fail, skip } from "../framework.js";
import { relays, sleep } from "./helpers.js";

const LINK = "link.proto";
const T = (
  id: string,
  clause: string,
  title: string,
  run: (ctx: TestContext) => Promise<void>,
  extra: Partial<TestCase> = {},
): TestCase => ({ id: `relay/${id}`, clause, level: "MUST", requires: ["relay"], title, run, ...extra });
const needs = (...f: Feature[]) => ({ requires: ["relay", ...f] as Feature[] });

const reasonName = (r: DestroyReason | undefined) => (r === undefined ? "none" : (DestroyReason[r] ?? String(r)));
const endName = (r: EndReason | undefined) => (r === undefined ? "none" : (EndReason[r] ?? String(r)));

async function firstRelay(ctx: TestContext): Promise<ResolvedRelay> {
  return (await relays(ctx))[0];
}

/** An exit accepting 127.0.0.1:port; fails if the features declare exit but none is found. */
async function exitRelay(ctx: TestContext, port = 1): Promise<ResolvedRelay> {
  await relays(ctx);
  const r = await ctx.target.exitFor(port);
  if (!r) {
    if (ctx.target.features.declared.exit) fail("feature exit is declared but no relay's exit policy accepts 127.0.0.1");
    skip("no exit relay accepting 127.0.0.1");
  }
  return r;
}

async function twoRelays(ctx: TestContext): Promise<ResolvedRelay[]> {
  const rs = await relays(ctx);
  if (rs.length < 2) skip("needs at least two relays");
  return rs;
}

async function link(ctx: TestContext, r: RelayInfo, opts: Parameters<typeof connectLink>[2] = {}): Promise<Link> {
  let l: Link;
  try {
    l = await connectLink(r.host, r.port, { expectIdentity: r.identity, timeoutMs: ctx.ms(5000), ...opts });
  } catch (e) {
    fail(`link handshake with ${r.host}:${r.port} failed: ${(e as Error).message}`);
  }
  ctx.defer(() => l.close());
  return l;
}

async function circuit(ctx: TestContext, r: RelayInfo, opts: { autoSendme?: boolean; link?: Link } = {}): Promise<ClientCircuit> {
  const l = opts.link ?? (await link(ctx, r));
  const c = new ClientCircuit(l, undefined, { autoSendme: opts.autoSendme });
  try {
    await c.create(r, { timeoutMs: ctx.ms(5000) });
  } catch (e) {
    fail(`CREATE2 to ${r.host}:${r.port} failed: ${(e as Error).message}`);
  }
  return c;
}

/** A one-hop circuit to the exit with congestion control negotiated (version 1 answered). */
async function ccCircuit(ctx: TestContext, exit: RelayInfo, opts: { autoSendme?: boolean } = {}): Promise<ClientCircuit> {
  const c = await circuit(ctx, exit, opts);
  const version = await c.negotiateCongestionControl({ timeoutMs: ctx.ms(5000) });
  check(version === 1, `CONGESTION_CONTROL_REQUEST version 1 answered ${version === undefined ? "with nothing" : `version ${version}`} (${c.describeState()})`, "1", String(version));
  return c;
}

async function server(ctx: TestContext, b: ConstructorParameters<typeof TestServer>[0] = {}): Promise<TestServer> {
  const s = await new TestServer(b).start();
  ctx.defer(() => s.close());
  return s;
}

/** Liveness probe at `hop`: a BEGIN is answered (CONNECTED or END) within 5 s. */
async function probe(ctx: TestContext, c: ClientCircuit, hop = c.lastHop): Promise<string | undefined> {
  const s = await server(ctx);
  const stream = c.openStream("127.0.0.1", s.port, { hop });
  const deadline = Date.now() + ctx.ms(5000);
  while (Date.now() < deadline && !stream.connected && !stream.ended && !c.destroyed) await sleep(20);
  if (stream.connected || stream.ended) return undefined;
  return c.destroyed ? `circuit destroyed (${c.describeState()})` : "no answer to BEGIN within 5 s";
}

async function expectDestroy(ctx: TestContext, c: ClientCircuit, what: string, reason?: DestroyReason, ms = 5000): Promise<void> {
  const gone = await c.waitDestroyed(ctx.ms(ms));
  check(gone, `${what}: the circuit was not destroyed within ${ms / 1000} s`, `DESTROY${reason !== undefined ? ` ${reasonName(reason)}` : ""}`, "circuit still open");
  check(c.destroyedBy !== "link" || c.link.closed, `${what}: unexpected state ${c.describeState()}`);
  if (reason !== undefined && c.destroyedBy === "peer") {
    check(c.destroyedReason === reason, `${what}: DESTROY reason ${reasonName(c.destroyedReason)}, expected ${reasonName(reason)}`, reasonName(reason), reasonName(c.destroyedReason));
  }
  if (c.destroyedBy === "link") fail(`${what}: the relay closed the whole link instead of destroying the circuit`, "DESTROY", `link closed (${c.link.closeReason})`);
  if (c.destroyedBy === "us") fail(`${what}: the relay's answer made the suite destroy the circuit: ${c.describeState()}`);
}

async function rawCreate2(ctx: TestContext, l: Link, id: number, type: HandshakeType, data: Uint8Array): Promise<{ created?: Uint8Array; destroyed?: DestroyReason }> {
  const since = l.mark();
  l.sendFrame({ circuitId: id, command: { case: "create2", value: { handshakeType: type, handshakeData: data } } });
  const f = await l.waitFrame((f) => f.frame.circuitId === id && (f.frame.command.case === "created2" || f.frame.command.case === "destroy"), ctx.ms(5000), since);
  if (!f) return {};
  if (f.frame.command.case === "created2") return { created: f.frame.command.value.handshakeData };
  if (f.frame.command.case === "destroy") return { destroyed: f.frame.command.value.reason };
  return {};
}

/**
 * Let DATA cells arrive: wait until `count()` reaches `target` (at most `maxMs`), then until nothing
 * more arrives for `quietMs`. A correct relay reaches the window quickly and then stops; a slow one
 * gets up to maxMs; one that ignores the window is still sending during the quiet period.
 */
async function drain(c: ClientCircuit, count: () => number, target: number, quietMs: number, maxMs: number): Promise<void> {
  const end = Date.now() + maxMs;
  while (Date.now() < end && !c.destroyed && count() < target) await sleep(20);
  let last = -1;
  let lastChange = Date.now();
  const quietEnd = Date.now() + Math.max(quietMs, maxMs);
  while (Date.now() < quietEnd && !c.destroyed) {
    if (c.dataCellsReceived !== last) {
      last = c.dataCellsReceived;
      lastChange = Date.now();
    } else if (Date.now() - lastChange >= quietMs) return;
    await sleep(20);
  }
}

/** Malformed input on link A: A closes, A's circuits die (stream to the suite server closes), link B works. */
async function linkAbuse(ctx: TestContext, what: string, abuse: (l: Link, circuitId: number) => void | Promise<void>): Promise<void> {
  const rs = await relays(ctx);
  const exit = await ctx.target.exitFor(1);
  const r = exit ?? rs[0];
  const a = await circuit(ctx, r);
  const b = await circuit(ctx, r);
  let conn;
  if (exit) {
    const s = await server(ctx);
    try {
      await a.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) });
    } catch (e) {
      fail(`setup: BEGIN on link A failed: ${(e as Error).message}`);
    }
    conn = await s.waitConnection(ctx.ms(3000));
    check(conn, "setup: the exit did not connect to the suite's server");
  }
  await abuse(a.link, a.id);
  const closed = await a.link.waitClosed(ctx.ms(3000));
  check(closed, `${what}: the relay did not close the link within 3 s`, "link closed", "link open");
  if (conn) {
    const gone = await conn.waitClosed(ctx.ms(5000));
    check(gone, `${what}: the stream of a circuit on the closed link stayed open at the exit (circuits on a closed link are destroyed, CHANNEL_CLOSED)`);
  }
  const p = await probe(ctx, b);
  check(!p, `${what}: a circuit on ANOTHER link stopped working: ${p}`);
}

export const relayTests: TestCase[] = [
  // ------------------------------------------------------------------ link
  T("link/identity-proof", `${LINK} IDENTITY PROOF, LINK HANDSHAKE; LinkHello`, "the responder's hello proves the expected identity over this TLS session's exporter", async (ctx) => {
    const r = await firstRelay(ctx);
    let l: Link;
    try {
      l = await connectLink(r.host, r.port, { expectIdentity: r.identity, timeoutMs: ctx.ms(5000) });
    } catch (e) {
      const le = e as LinkHandshakeError;
      fail(`identity proof check failed: ${le.message}`, "Ed25519 over 'meowonion-link-auth-v1' 0x00 0x01 exporter", le.reason);
    }
    ctx.defer(() => l.close());
    check(l.socket.getProtocol() === "TLSv1.3", `link is ${l.socket.getProtocol()}, not TLS 1.3`);
    check(l.peerHello!.versions.length === 1 && l.peerHello!.versions[0] === 1, `responder hello versions [${l.peerHello!.versions}] (expected the chosen version [1])`);
  }),
  T("link/version-negotiation", `${LINK} LinkHello.versions`, "offered [1, 7] the responder chooses [1]", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r, { versions: [1, 7] });
    check(l.version === 1, `chose version ${l.version}`);
  }),
  T("link/no-shared-version", `${LINK} LinkHello.versions (no shared version closes the link)`, "offered only [99] the responder closes the link", async (ctx) => {
    const r = await firstRelay(ctx);
    try {
      const l = await connectLink(r.host, r.port, { versions: [99], timeoutMs: ctx.ms(5000) });
      l.close();
      fail("the relay answered a hello offering only version 99", "link closed", `hello with versions [${l.peerHello?.versions}]`);
    } catch (e) {
      if (!(e instanceof LinkHandshakeError)) throw e;
      check(e.reason === "closed", `expected the link to be closed, got: ${e.message}`);
    }
  }),
  T("link/initiator-proof-ok", `${LINK} IDENTITY PROOF (role 0x02, initiating relay)`, "an initiator with a valid proof (as a relay) is accepted and can create circuits", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r, { identity: ed25519Generate() });
    const c = new ClientCircuit(l);
    await c.create(r, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`CREATE2 on an authenticated initiator link failed: ${e.message}`));
  }),
  T("link/bad-initiator-proof", `${LINK} LinkHello.signature (a bad signature closes the link)`, "an initiator whose proof does not verify gets its link closed", async (ctx) => {
    const r = await firstRelay(ctx);
    let l: Link;
    try {
      l = await connectLink(r.host, r.port, { identity: ed25519Generate(), faults: { corruptSignature: true }, timeoutMs: ctx.ms(5000) });
    } catch (e) {
      if (e instanceof LinkHandshakeError && e.reason === "closed") return;
      throw e;
    }
    ctx.defer(() => l.close());
    const closed = await l.waitClosed(ctx.ms(2000));
    if (closed) return;
    const c = new ClientCircuit(l);
    const ok = await c.create(r, { timeoutMs: ctx.ms(3000) }).then(() => true, () => false);
    fail(`the relay kept a link whose initiator proof does not verify${ok ? " and even created a circuit on it" : ""}`, "link closed", "link open");
  }),
  T("link/wrong-role-proof", `${LINK} IDENTITY PROOF (role byte)`, "an initiator proof signed with the responder's role byte is refused", async (ctx) => {
    const r = await firstRelay(ctx);
    let l: Link;
    try {
      l = await connectLink(r.host, r.port, { identity: ed25519Generate(), faults: { proofRole: 0x01 }, timeoutMs: ctx.ms(5000) });
    } catch (e) {
      if (e instanceof LinkHandshakeError && e.reason === "closed") return;
      throw e;
    }
    ctx.defer(() => l.close());
    check(await l.waitClosed(ctx.ms(2000)), "the relay accepted an initiator proof made with role 0x01 (reflection of a responder proof)", "link closed", "link open");
  }),
  T("link/frame-before-hello", `${LINK} LINK HANDSHAKE (no other frame before the hello)`, "a CREATE2 as the first frame closes the link", async (ctx) => {
    const r = await firstRelay(ctx);
    const raw = encodeFrame(makeFrame({ circuitId: initiatorCircuitId(), command: { case: "create2", value: { handshakeType: HandshakeType.NTOR, handshakeData: new Uint8Array(84) } } }));
    try {
      const l = await connectLink(r.host, r.port, { rawHello: raw, timeoutMs: ctx.ms(4000) });
      l.close();
      fail("the relay answered a link whose first frame was CREATE2", "link closed", "hello");
    } catch (e) {
      if (!(e instanceof LinkHandshakeError)) throw e;
      check(e.reason === "closed", `expected the link to be closed, got ${e.reason}: ${e.message}`);
    }
  }),
  T("link/second-hello", `${LINK} LINK HANDSHAKE (only PADDING with circuit_id 0 afterwards)`, "a second hello after the handshake closes the link", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    l.sendFrame({ circuitId: 0, command: { case: "hello", value: { versions: [1] } } });
    check(await l.waitClosed(ctx.ms(3000)), "the relay kept the link after a second hello", "link closed", "link open");
  }),
  T("link/padding-ignored", `${LINK} Frame.padding`, "PADDING after the handshake is dropped silently; the link keeps working", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    for (let i = 0; i < 3; i++) l.sendFrame({ circuitId: 0, command: { case: "padding", value: { data: new Uint8Array(100 * i) } } });
    const c = new ClientCircuit(l);
    await c.create(r, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`CREATE2 after PADDING failed: ${e.message} (${l.closeReason})`));
  }),
  T("link/oversized-frame", `${LINK} FRAMING (length above MAX_FRAME_SIZE closes the link)`, "a frame length of 1025 closes that link; its circuits die; another link's circuit keeps working", async (ctx) => {
    await linkAbuse(ctx, "oversized frame", (l) => l.sendRaw(concat(varint(1025), new Uint8Array(1025))));
  }),
  T("link/truncated-frame", `${LINK} FRAMING (EOF inside a frame is a protocol error)`, "EOF in the middle of a frame closes that link and its circuits; another link keeps working", async (ctx) => {
    await linkAbuse(ctx, "truncated frame", (l) => {
      const full = encodeFrame(makeFrame({ circuitId: 0x80000001, command: { case: "relay", value: new Uint8Array(509) } }));
      l.sendRaw(full.subarray(0, 100));
      setTimeout(() => l.endOurSide(), 100);
    });
  }),
  T("link/garbage", `${LINK} FRAMING (a frame that does not decode closes the link)`, "random bytes close that link and its circuits; another link keeps working", async (ctx) => {
    await linkAbuse(ctx, "garbage", (l) => {
      // A length that fits, then bytes that do not decode as a Frame (field 6 overrunning its length).
      l.sendRaw(concat(new Uint8Array([0x40, 0x32, 0x7f]), u8(randomBytes(62))));
    });
  }),
  T("link/command-unset", `${LINK} FRAMING (command unset or unknown closes the link)`, "a frame with only a circuit_id (or an unknown field) closes the link", async (ctx) => {
    await linkAbuse(ctx, "frame without a command", (l) => l.sendRaw(new Uint8Array([0x08, 0x0d, 0x01, 0x00, 0x00, 0x80, 0xa0, 0x06, 0x01])));
  }),
  T("link/relay-wrong-length", `${LINK} Frame.relay (exactly 509 bytes; any other length closes the link)`, "a RELAY frame with a 100-byte payload closes the link", async (ctx) => {
    await linkAbuse(ctx, "100-byte RELAY payload", (l, id) => l.sendFrame({ circuitId: id, command: { case: "relay", value: new Uint8Array(100) } }));
  }),
  T("link/relay-frame-size", `${LINK} CONSTANT SIZE`, "every RELAY frame the relay sends is exactly 519 bytes on the wire", async (ctx) => {
    const r = await firstRelay(ctx);
    const c = await circuit(ctx, r);
    const s = await server(ctx);
    c.openStream("127.0.0.1", s.port);
    c.sendCell(0, RelayCommand.DROP, 0, new Uint8Array(0));
    const got = await c.waitCell(() => true, ctx.ms(5000));
    check(got, `no relay cell came back (${c.describeState()})`);
    const sizes = c.link.received.filter((f) => f.frame.command.case === "relay").map((f) => f.wireLen);
    check(sizes.length > 0 && sizes.every((n) => n === 519), `RELAY frames of ${[...new Set(sizes)].join(", ")} bytes on the wire`, "519", sizes.join(","));
  }),

  // ------------------------------------------------------------------ circuits
  T("circuit/create2", `${LINK} Create2, Created2, HANDSHAKE_TYPE_NTOR`, "CREATE2 (ntor) gets CREATED2 whose AUTH verifies with the relay's ID and onion key", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const c = new ClientCircuit(l);
    try {
      await c.create(r, { timeoutMs: ctx.ms(5000) });
    } catch (e) {
      fail(`CREATE2 failed: ${(e as Error).message}`);
    }
  }),
  T("circuit/created2-auth-binds-keys", `${LINK} HANDSHAKE_TYPE_NTOR (AUTH covers ID and B)`, "checked against a wrong onion key or relay ID, the relay's CREATED2 does not verify", async (ctx) => {
    const r = await firstRelay(ctx);
    for (const [what, checkWith] of [
      ["a wrong onion key", { B: x25519Generate().publicKey }],
      ["a wrong relay ID", { id: relayId(ed25519Generate().publicKey) }],
    ] as const) {
      const l = await link(ctx, r);
      const c = new ClientCircuit(l);
      let err: unknown;
      try {
        await c.create(r, { timeoutMs: ctx.ms(5000), checkWith });
      } catch (e) {
        err = e;
      }
      check(err instanceof CircuitError && /AUTH|ntor/.test((err as Error).message), `a CREATED2 checked with ${what} verified (AUTH must bind ID and B)`, "AUTH mismatch", err ? (err as Error).message : "verified");
    }
  }),
  T("circuit/create2-unknown-onion-key", `${LINK} Create2 (unknown onion key: DESTROY PROTOCOL)`, "CREATE2 to an onion key the relay does not have gets DESTROY PROTOCOL", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const onionskin = concat(relayId(r.identity), x25519Generate().publicKey, x25519Generate().publicKey);
    const res = await rawCreate2(ctx, l, initiatorCircuitId(), HandshakeType.NTOR, onionskin);
    check(!res.created, "the relay answered CREATED2 for an onion key it does not have", "DESTROY PROTOCOL", "CREATED2");
    check(res.destroyed === DestroyReason.PROTOCOL, `expected DESTROY PROTOCOL, got ${res.destroyed === undefined ? "nothing" : reasonName(res.destroyed)}`, "PROTOCOL", reasonName(res.destroyed));
  }),
  T("circuit/create2-wrong-id", `${LINK} Create2 (unknown ID: DESTROY PROTOCOL)`, "CREATE2 naming another relay's ID gets DESTROY PROTOCOL", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const onionskin = concat(relayId(ed25519Generate().publicKey), r.onionKey, x25519Generate().publicKey);
    const res = await rawCreate2(ctx, l, initiatorCircuitId(), HandshakeType.NTOR, onionskin);
    check(!res.created, "the relay answered CREATED2 for another relay's ID", "DESTROY PROTOCOL", "CREATED2");
    check(res.destroyed === DestroyReason.PROTOCOL, `expected DESTROY PROTOCOL, got ${res.destroyed === undefined ? "nothing" : reasonName(res.destroyed)}`);
  }),
  T("circuit/create2-bad-length", `${LINK} Create2.handshake_data (NTOR: exactly 84 bytes)`, "an 83-byte ntor handshake gets DESTROY PROTOCOL", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const res = await rawCreate2(ctx, l, initiatorCircuitId(), HandshakeType.NTOR, concat(relayId(r.identity), r.onionKey, new Uint8Array(31)));
    check(res.destroyed === DestroyReason.PROTOCOL, `expected DESTROY PROTOCOL, got ${res.created ? "CREATED2" : res.destroyed === undefined ? "nothing" : reasonName(res.destroyed)}`);
  }),
  T("circuit/create2-unknown-type", `${LINK} Create2.handshake_type (unknown types: DESTROY PROTOCOL)`, "handshake_type 99 gets DESTROY PROTOCOL", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const res = await rawCreate2(ctx, l, initiatorCircuitId(), 99 as HandshakeType, new Uint8Array(84));
    check(res.destroyed === DestroyReason.PROTOCOL, `expected DESTROY PROTOCOL, got ${res.created ? "CREATED2" : res.destroyed === undefined ? "nothing" : reasonName(res.destroyed)}`);
  }),
  T("circuit/create2-wrong-top-bit", `${LINK} CIRCUIT IDS (initiator ids have the top bit set)`, "CREATE2 from the initiator with the top bit clear gets DESTROY PROTOCOL", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const c = new ClientCircuit(l, initiatorCircuitId() & 0x7fffffff);
    const res = await c.create(r, { timeoutMs: ctx.ms(5000) }).then(
      () => "CREATED2",
      () => (c.destroyedBy === "peer" ? `DESTROY ${reasonName(c.destroyedReason)}` : "nothing"),
    );
    check(res === "DESTROY PROTOCOL", `expected DESTROY PROTOCOL, got ${res}`, "DESTROY PROTOCOL", res);
  }),
  T("circuit/create2-duplicate-id", `${LINK} CIRCUIT IDS (an id already in use: DESTROY PROTOCOL)`, "a second CREATE2 on a circuit id in use gets DESTROY PROTOCOL", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const c = new ClientCircuit(l);
    await c.create(r, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`setup CREATE2 failed: ${e.message}`));
    const res = await rawCreate2(ctx, l, c.id, HandshakeType.NTOR, concat(relayId(r.identity), r.onionKey, x25519Generate().publicKey));
    check(res.destroyed === DestroyReason.PROTOCOL, `expected DESTROY PROTOCOL, got ${res.created ? "CREATED2" : res.destroyed === undefined ? "nothing" : reasonName(res.destroyed)}`);
  }),
  T("circuit/unknown-circuit", `${LINK} CIRCUIT IDS (RELAY for an unknown circuit: DESTROY PROTOCOL)`, "a RELAY cell on an unknown circuit id gets DESTROY PROTOCOL", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const id = initiatorCircuitId();
    const since = l.mark();
    l.sendFrame({ circuitId: id, command: { case: "relay", value: u8(randomBytes(509)) } });
    const f = await l.waitFrame((f) => f.frame.circuitId === id, ctx.ms(5000), since);
    check(f && f.frame.command.case === "destroy", `expected DESTROY for unknown circuit ${id.toString(16)}, got ${f ? f.frame.command.case : "nothing"}${l.closed ? ` (link closed: ${l.closeReason})` : ""}`);
    check(f.frame.command.case === "destroy" && f.frame.command.value.reason === DestroyReason.PROTOCOL, "DESTROY reason is not PROTOCOL");
  }),
  T("circuit/destroy-unknown-ignored", `${LINK} CIRCUIT IDS (DESTROY for an unknown circuit is ignored)`, "DESTROY on an unknown circuit id gets no answer and the link stays", async (ctx) => {
    const r = await firstRelay(ctx);
    const l = await link(ctx, r);
    const id = initiatorCircuitId();
    const since = l.mark();
    l.sendFrame({ circuitId: id, command: { case: "destroy", value: { reason: DestroyReason.REQUESTED } } });
    const f = await l.waitFrame((f) => f.frame.circuitId === id, ctx.ms(1000), since);
    check(!f, `the relay answered a DESTROY for an unknown circuit with ${f?.frame.command.case}`);
    const c = new ClientCircuit(l);
    await c.create(r, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`the link stopped working after the DESTROY: ${e.message}`));
  }),
  T("circuit/relay-early-limit", `${LINK} Frame.relay_early (at most 8 per circuit; the 9th: DESTROY PROTOCOL)`, "8 RELAY_EARLY cells are accepted, the 9th destroys the circuit", async (ctx) => {
    const r = await firstRelay(ctx);
    const c = await circuit(ctx, r);
    for (let i = 0; i < 8; i++) c.sendCell(0, RelayCommand.DROP, 0, new Uint8Array(0), { early: true });
    const p = await probe(ctx, c);
    check(!p, `after 8 RELAY_EARLY cells (DROP) the circuit no longer works: ${p}`);
    c.sendCell(0, RelayCommand.DROP, 0, new Uint8Array(0), { early: true });
    await expectDestroy(ctx, c, "9th RELAY_EARLY", DestroyReason.PROTOCOL);
  }),
  T("circuit/flipped-bit", "relay.proto RECOGNITION (a single flipped bit kills the circuit)", "a relay cell with one flipped bit destroys the circuit (PROTOCOL)", async (ctx) => {
    const r = await firstRelay(ctx);
    const c = await circuit(ctx, r);
    const plain = encodeRelayCell(RelayCommand.DROP, 0, new Uint8Array(0));
    const { cell } = c.crypto.encryptOutbound(plain, 0);
    cell[200] ^= 0x04;
    c.sendEncrypted(cell);
    await expectDestroy(ctx, c, "flipped bit", DestroyReason.PROTOCOL);
  }),
  T("circuit/recognized-nonzero", "relay.proto RECOGNITION (recognized must be 0)", "a cell with recognized != 0 (digest right) is not recognized: the last hop destroys the circuit", async (ctx) => {
    const r = await firstRelay(ctx);
    const c = await circuit(ctx, r);
    c.sendCell(0, RelayCommand.DROP, 0, new Uint8Array(0), { recognized: 1 });
    await expectDestroy(ctx, c, "recognized = 1", DestroyReason.PROTOCOL);
  }),
  T("circuit/destroy-frees-streams", `${LINK} Frame.destroy (frees all state of the circuit)`, "DESTROY from the client closes the exit's TCP connection", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const s = await server(ctx);
    await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    const conn = await s.waitConnection(ctx.ms(3000));
    check(conn, "the exit never connected");
    c.destroy(DestroyReason.REQUESTED);
    check(await conn.waitClosed(ctx.ms(5000)), "the exit kept the TCP connection of a destroyed circuit open for 5 s");
  }, needs("exit")),
  T("circuit/isolation", "relay.proto RelayCommand.BEGIN (stream ids are per circuit); link.proto CIRCUIT IDS", "two circuits on one link using the same stream id never see each other's data", async (ctx) => {
    const exit = await exitRelay(ctx);
    const l = await link(ctx, exit);
    const c1 = await circuit(ctx, exit, { link: l });
    const c2 = await circuit(ctx, exit, { link: l });
    const d1 = patternBytes(5000, "iso/server1");
    const d2 = patternBytes(5000, "iso/server2");
    const s1 = await server(ctx, { send: d1 });
    const s2 = await server(ctx, { send: d2 });
    const st1 = await c1.begin("127.0.0.1", s1.port, { streamId: 1, timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN on circuit 1: ${e.message}`));
    const st2 = await c2.begin("127.0.0.1", s2.port, { streamId: 1, timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN on circuit 2: ${e.message}`));
    const u1 = patternBytes(3000, "iso/client1");
    const u2 = patternBytes(3000, "iso/client2");
    await st1.write(u1);
    await st2.write(u2);
    await Promise.all([st1.waitBytes(5000, ctx.ms(5000)), st2.waitBytes(5000, ctx.ms(5000))]);
    const [k1, k2] = [await s1.waitConnection(1000), await s2.waitConnection(1000)];
    await Promise.all([k1?.waitBytes(3000, ctx.ms(3000)), k2?.waitBytes(3000, ctx.ms(3000))]);
    await sleep(300);
    check(sha256hex(st1.received()) === sha256hex(d1), `circuit 1 received ${st1.bytesReceived} bytes that are not (only) its own server's 5000 (${c1.describeState()})`);
    check(sha256hex(st2.received()) === sha256hex(d2), `circuit 2 received ${st2.bytesReceived} bytes that are not (only) its own server's 5000 (${c2.describeState()})`);
    check(k1 && sha256hex(k1.received()) === sha256hex(u1), `server 1 received ${k1?.bytesReceived} bytes, not exactly circuit 1's 3000: data crossed circuits`);
    check(k2 && sha256hex(k2.received()) === sha256hex(u2), `server 2 received ${k2?.bytesReceived} bytes, not exactly circuit 2's 3000: data crossed circuits`);
  }, needs("exit")),

  // ------------------------------------------------------------------ extend
  T("extend/extended2", "relay.proto Extend2, Extended2", "EXTEND2 to a second relay gets EXTENDED2 whose AUTH verifies", async (ctx) => {
    const [a, b] = await twoRelays(ctx);
    const c = await circuit(ctx, a);
    await c.extend(b, { timeoutMs: ctx.ms(8000) }).catch((e) => fail(`EXTEND2 ${a.host}:${a.port} -> ${b.host}:${b.port} failed: ${e.message}`));
  }, needs("extend")),
  T("extend/three-hops", "relay.proto Extend2; CRYPTOGRAPHY (layers); RECOGNITION (forwarding)", "a 3-hop circuit through the relays answers at its last hop", async (ctx) => {
    const rs = await relays(ctx);
    if (rs.length < 3) skip("needs three relays");
    const c = await circuit(ctx, rs[0]);
    await c.extend(rs[1], { timeoutMs: ctx.ms(8000) }).catch((e) => fail(`EXTEND2 to hop 2 failed: ${e.message}`));
    await c.extend(rs[2], { timeoutMs: ctx.ms(8000) }).catch((e) => fail(`EXTEND2 to hop 3 failed: ${e.message}`));
    const p = await probe(ctx, c, 2);
    check(!p, `hop 3 does not answer: ${p}`);
  }, needs("extend")),
  T("extend/refuse-self", "relay.proto Extend2 (refuses if the identity key is its own: DESTROY PROTOCOL)", "EXTEND2 naming the relay itself is refused with DESTROY PROTOCOL", async (ctx) => {
    const r = await firstRelay(ctx);
    const c = await circuit(ctx, r);
    const res = await c.extend(r, { timeoutMs: ctx.ms(5000) }).then(
      () => "EXTENDED2",
      (e: Error) => (c.destroyedBy === "peer" ? `DESTROY ${reasonName(c.destroyedReason)}` : e.message),
    );
    check(res === "DESTROY PROTOCOL", `EXTEND2 to itself answered with ${res}`, "DESTROY PROTOCOL", res);
  }),
  T("extend/identity-mismatch", "relay.proto Extend2 (identity proof mismatch: DESTROY OR_IDENTITY)", "EXTEND2 with relay B's address and another identity never gives EXTENDED2; OR_IDENTITY", async (ctx) => {
    const [a, b] = await twoRelays(ctx);
    const c = await circuit(ctx, a);
    const other = ed25519Generate().publicKey;
    const res = await c.extend({ ...b, identity: other }, { timeoutMs: ctx.ms(8000) }).then(
      () => "EXTENDED2",
      (e: Error) => (c.destroyedBy === "peer" ? `DESTROY ${reasonName(c.destroyedReason)}` : e.message),
    );
    check(res !== "EXTENDED2", "the relay extended to a relay whose link identity proof does not match EXTEND2's identity", "DESTROY OR_IDENTITY", "EXTENDED2");
    check(/OR_IDENTITY/.test(res), `refused, but not with OR_IDENTITY: ${res}`, "DESTROY (or TRUNCATED) OR_IDENTITY", res);
  }, needs("extend")),
  T("extend/connect-failed", "relay.proto Extend2 (a failed connection: DESTROY CONNECTFAILED)", "EXTEND2 to a closed port gives DESTROY or TRUNCATED with CONNECTFAILED", async (ctx) => {
    const [a, b] = await twoRelays(ctx);
    const c = await circuit(ctx, a);
    const port = await closedPort();
    // A fresh identity, so that no existing link (to b or anyone) can be reused for it.
    const res = await c.extend({ ...b, identity: ed25519Generate().publicKey }, { address: `127.0.0.1:${port}`, timeoutMs: ctx.ms(10000) }).then(
      () => "EXTENDED2",
      (e: Error) => (c.destroyedBy === "peer" ? `DESTROY ${reasonName(c.destroyedReason)}` : e.message),
    );
    check(/CONNECTFAILED/.test(res), `EXTEND2 to a closed port answered: ${res}`, "DESTROY (or TRUNCATED) CONNECTFAILED", res);
  }, needs("extend")),
  T("extend/canonical-link", "relay.proto Extend2 (2) (an open link is reused only if its remote address is one EXTEND2 names or the consensus lists)", "EXTEND2 naming another address of a relay the extender already has a link with gets a new link to that address", async (ctx) => {
    const r = await firstRelay(ctx);
    // The suite plays the next relay, listening on every IPv4 address: 127.0.0.1 and 127.0.0.2
    // reach the same identity. The local address of the link each CREATE2 arrives on tells
    // which address the extending relay connected to.
    const identity = ed25519Generate();
    const creates: string[] = [];
    const server = createLinkServer({ identity }, (l) => {
      ctx.defer(() => l.close("test over"));
      l.on("frame", ({ frame }) => {
        if (frame.command.case !== "create2") return;
        creates.push(l.socket.localAddress ?? "");
        l.sendFrame({ circuitId: frame.circuitId, command: { case: "destroy", value: { reason: DestroyReason.RESOURCELIMIT } } });
      });
    });
    const { port } = await listenOn(server, "0.0.0.0");
    ctx.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const next = { host: "127.0.0.1", port, identity: identity.publicKey, onionKey: x25519Generate().publicKey };
    const extendVia = async (address: string) => {
      const c = await circuit(ctx, r);
      // The suite refuses the CREATE2 (DESTROY): the extension fails once the CREATE2 was seen.
      await c.extend(next, { address, timeoutMs: ctx.ms(8000) }).catch(() => undefined);
    };
    await extendVia(`127.0.0.1:${port}`);
    check(creates.length === 1 && creates[0] === "127.0.0.1", `EXTEND2 naming 127.0.0.1:${port} gave CREATE2 on links to [${creates.join(", ")}]`, "one CREATE2 on a link to 127.0.0.1", `[${creates.join(", ")}]`);
    await extendVia(`127.0.0.2:${port}`);
    const total: number = creates.length; // (check() narrowed creates.length to 1 above)
    check(total === 2, "no CREATE2 arrived for the EXTEND2 naming 127.0.0.2", "a CREATE2", "none");
    check(creates[1] === "127.0.0.2", `the CREATE2 for the EXTEND2 naming 127.0.0.2:${port} came on the link to ${creates[1]}, which it did not name`, "a link to 127.0.0.2", `a link to ${creates[1]}`);
  }, needs("extend")),
  T("extend/failure-keeps-circuit", "relay.proto Truncate (EXTENSION FAILURE: TRUNCATED, and the circuit stays)", "EXTEND2 to a closed port gives TRUNCATED CONNECTFAILED; the same circuit then extends to another relay", async (ctx) => {
    const [a, b] = await twoRelays(ctx);
    const c = await circuit(ctx, a);
    const port = await closedPort();
    const res = await c.extend({ ...b, identity: ed25519Generate().publicKey }, { address: `127.0.0.1:${port}`, timeoutMs: ctx.ms(10000) }).then(
      () => "EXTENDED2",
      (e: Error) => (c.destroyedBy === "peer" ? `DESTROY ${reasonName(c.destroyedReason)}` : e.message),
    );
    check(/TRUNCATED.*CONNECTFAILED/.test(res), `EXTEND2 to a closed port answered: ${res}`, "TRUNCATED CONNECTFAILED", res);
    await c.extend(b, { timeoutMs: ctx.ms(8000) }).catch((e) => fail(`EXTEND2 after a failed extension failed (${c.describeState()}): ${e.message}`));
  }, needs("extend")),
  T("extend/requires-relay-early", "relay.proto RelayCommand.RELAY_COMMAND_EXTEND2 (only in RELAY_EARLY frames)", "EXTEND2 in a plain RELAY frame is not carried out", async (ctx) => {
    const [a, b] = await twoRelays(ctx);
    const c = await circuit(ctx, a);
    const res = await c.extend(b, { early: false, timeoutMs: ctx.ms(5000) }).then(
      () => "EXTENDED2",
      (e: Error) => (c.destroyedBy === "peer" ? `DESTROY ${reasonName(c.destroyedReason)}` : e.message),
    );
    check(res !== "EXTENDED2", "the relay extended on an EXTEND2 carried in a RELAY (not RELAY_EARLY) frame", "DESTROY PROTOCOL", res);
  }, needs("extend")),
  T("extend/destroy-forwarded", `${LINK} Frame.destroy (forwarded to the other side of the circuit)`, "DESTROY at hop 1 reaches hop 2: hop 2's exit stream closes", async (ctx) => {
    const rs = await twoRelays(ctx);
    const exit = await exitRelay(ctx);
    const first = rs.find((r) => !equal(r.identity, exit.identity))!;
    const c = await circuit(ctx, first);
    await c.extend(exit, { timeoutMs: ctx.ms(8000) }).catch((e) => fail(`EXTEND2 failed: ${e.message}`));
    const s = await server(ctx);
    await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN at hop 2 failed: ${e.message}`));
    const conn = await s.waitConnection(ctx.ms(3000));
    check(conn, "the exit never connected");
    c.destroy(DestroyReason.REQUESTED);
    check(await conn.waitClosed(ctx.ms(5000)), "after DESTROY at hop 1, hop 2 kept its stream open for 5 s (DESTROY not forwarded)");
  }, needs("extend", "exit")),
  T("extend/truncate", "relay.proto Truncate, Truncated", "TRUNCATE at hop 1 of a 2-hop circuit gets TRUNCATED; the circuit then extends again", async (ctx) => {
    const [a, b] = await twoRelays(ctx);
    const c = await circuit(ctx, a);
    await c.extend(b, { timeoutMs: ctx.ms(8000) }).catch((e) => fail(`EXTEND2 failed: ${e.message}`));
    const since = c.mark();
    c.sendCell(0, RelayCommand.TRUNCATE, 0, new Uint8Array(0));
    const t = await c.waitCell((x) => x.cell.command === RelayCommand.TRUNCATED, ctx.ms(5000), since);
    check(t && t.hop === 0, `no TRUNCATED from hop 1 (${c.describeState()})`);
    parse(TruncatedSchema, t.cell.data);
    c.hops.pop();
    c.crypto.hops.pop();
    await c.extend(b, { timeoutMs: ctx.ms(8000) }).catch((e) => fail(`EXTEND2 after TRUNCATED failed: ${e.message}`));
  }, needs("extend")),

  // ------------------------------------------------------------------ exit
  T("exit/data-both-ways", "relay.proto RelayCommand.BEGIN/CONNECTED/DATA/END; Begin; Connected", "BEGIN to a suite server via the exit; 200 KB each way arrive intact (SHA-256)", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const down = patternBytes(200_000, "exit/down");
    const up = patternBytes(200_000, "exit/up");
    const s = await server(ctx, { send: down });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    await st.write(up).catch((e) => fail(`sending 200 KB: ${e.message}`));
    st.end();
    const conn = await s.waitConnection(1000);
    check(conn, "no connection at the server");
    await conn.waitBytes(up.length, ctx.ms(10000));
    await st.waitBytes(down.length, ctx.ms(10000));
    check(sha256hex(conn.received()) === sha256hex(up), `server received ${conn.bytesReceived} of ${up.length} bytes (or different bytes)`, sha256hex(up).slice(0, 16), sha256hex(conn.received()).slice(0, 16));
    check(sha256hex(st.received()) === sha256hex(down), `client received ${st.bytesReceived} of ${down.length} bytes (or different bytes); ${c.describeState()}`, sha256hex(down).slice(0, 16), sha256hex(st.received()).slice(0, 16));
    check(!c.anomalies.length, `protocol anomalies: ${c.anomalies.slice(0, 3).join("; ")}`);
  }, { ...needs("exit"), timeoutMs: 60_000 }),
  T("exit/end-done", "relay.proto End (DONE: the connection closed normally)", "when the destination closes, the exit sends END DONE after the data", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const data = patternBytes(3000, "exit/end");
    const s = await server(ctx, { send: data, endAfterSend: true });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    check(await st.waitEnded(ctx.ms(5000)), "no END after the destination closed");
    check(st.endReason === EndReason.DONE, `END reason ${endName(st.endReason)}, expected DONE`, "DONE", endName(st.endReason));
    check(sha256hex(st.received()) === sha256hex(data), "data before END incomplete");
  }, needs("exit")),
  T("exit/half-close", "relay.proto End (DONE is a half-close: the other side may keep sending)", "after the client's END DONE the destination's later reply still arrives", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const late = patternBytes(2000, "exit/late");
    const s = await server(ctx, { endOnEnd: false });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    const conn = await s.waitConnection(ctx.ms(3000));
    check(conn, "no connection at the server");
    await st.write(patternBytes(1000, "exit/early"));
    st.end(EndReason.DONE);
    check(await conn.waitEnd(ctx.ms(5000)), "the exit did not half-close (FIN) the destination after END DONE");
    conn.socket.end(Buffer.from(late));
    await st.waitBytes(late.length, ctx.ms(5000));
    check(sha256hex(st.received()) === sha256hex(late), `after END DONE the client got ${st.bytesReceived} of the destination's ${late.length} late bytes`);
  }, needs("exit")),
  T("exit/exit-policy", "relay.proto Begin (refusal by exit policy: END EXITPOLICY); descriptor.proto ExitPolicy", "BEGIN to a destination the exit's policy rejects gets END EXITPOLICY", async (ctx) => {
    const exit = await exitRelay(ctx);
    const dest = [["192.0.2.1", 80], ["198.51.100.7", 443], ["203.0.113.9", 25], ["127.0.0.1", 65535]].find(([a, p]) => !policyAllows(exit.exitPolicy, a as string, p as number));
    if (!dest) skip("the exit's policy accepts every candidate destination");
    const c = await circuit(ctx, exit);
    const res = await c.begin(dest[0] as string, dest[1] as number, { timeoutMs: ctx.ms(8000) }).then(() => "CONNECTED", (e: Error) => e.message);
    check(/EXITPOLICY/.test(res), `BEGIN to ${dest[0]}:${dest[1]} (rejected by its policy) answered: ${res}`, "END EXITPOLICY", res);
  }, needs("exit")),
  T("exit/non-exit-refuses", "descriptor.proto RelayDescriptor.exit_policy (empty: not an exit); relay.proto Begin", "BEGIN at a relay whose policy accepts nothing gets END EXITPOLICY", async (ctx) => {
    const rs = await relays(ctx);
    const r = rs.find((x) => !hasAccept(x.exitPolicy));
    if (!r) skip("every relay is an exit");
    const c = await circuit(ctx, r);
    const s = await server(ctx);
    const res = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).then(() => "CONNECTED", (e: Error) => e.message);
    check(/EXITPOLICY/.test(res), `BEGIN at a non-exit answered: ${res}`, "END EXITPOLICY", res);
    check(s.conns.length === 0, "the non-exit connected to the destination");
  }),
  T("exit/connect-refused", "relay.proto Begin (failure: END with the matching reason), EndReason.END_REASON_CONNECTREFUSED", "BEGIN to a closed port gets END CONNECTREFUSED", async (ctx) => {
    const exit = await exitRelay(ctx);
    const port = await closedPort();
    if (!policyAllows(exit.exitPolicy, "127.0.0.1", port)) skip("policy rejects the port");
    const c = await circuit(ctx, exit);
    const res = await c.begin("127.0.0.1", port, { timeoutMs: ctx.ms(8000) }).then(() => "CONNECTED", (e: Error) => e.message);
    check(/CONNECTREFUSED/.test(res), `BEGIN to a closed port answered: ${res}`, "END CONNECTREFUSED", res);
  }, needs("exit")),
  T("exit/bad-port", "relay.proto Begin.port (0 gets END TORPROTOCOL)", "BEGIN with port 0 gets END TORPROTOCOL", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const res = await c.begin("127.0.0.1", 0, { timeoutMs: ctx.ms(5000) }).then(() => "CONNECTED", (e: Error) => e.message);
    check(/TORPROTOCOL/.test(res), `BEGIN with port 0 answered: ${res}`, "END TORPROTOCOL", res);
  }, needs("exit")),

  // ------------------------------------------------------------------ flow control
  T("flow/stream-window", "relay.proto SENDME AND FLOW CONTROL (stream window 500)", "without SENDMEs the exit sends at most 500 DATA cells on a stream", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit, { autoSendme: false });
    const s = await server(ctx, { send: patternBytes(600 * 498, "flow/stream") });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    await drain(c, () => st.dataCells, 500, ctx.ms(1000), ctx.ms(10000));
    check(st.dataCells <= 500, `the exit sent ${st.dataCells} DATA cells on one stream without a SENDME`, "<= 500", String(st.dataCells));
    ctx.note(`${st.dataCells} DATA cells before the window closed`);
  }, { ...needs("exit"), timeoutMs: 30_000 }),
  T("flow/stream-window-used", "relay.proto SENDME AND FLOW CONTROL (stream window 500)", "the exit uses the whole stream window: exactly 500 cells before stopping", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit, { autoSendme: false });
    const s = await server(ctx, { send: patternBytes(600 * 498, "flow/stream2") });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    await drain(c, () => st.dataCells, 500, ctx.ms(1000), ctx.ms(10000));
    check(st.dataCells === 500, `the exit stopped after ${st.dataCells} full DATA cells, not 500`, "500", String(st.dataCells));
    st.circuit.sendCell(st.hop, RelayCommand.SENDME, st.id, pb(SendmeSchema, { version: 0 }));
    await drain(c, () => st.dataCells, 550, ctx.ms(1000), ctx.ms(10000));
    const after = st.dataCells as number;
    check(after === 550, `after one stream SENDME the exit sent ${after - 500} more cells, expected 50`, "550", String(after));
  }, { ...needs("exit"), level: "SHOULD", timeoutMs: 40_000 }),
  T("flow/circuit-window", "relay.proto SENDME AND FLOW CONTROL (circuit window 1000)", "without SENDMEs the exit sends at most 1000 DATA cells on a circuit (3 busy streams)", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit, { autoSendme: false });
    const streams: ClientStream[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await server(ctx, { send: patternBytes(600 * 498, `flow/circ${i}`) });
      streams.push(await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN ${i} failed: ${e.message}`)));
    }
    await drain(c, () => c.dataCellsReceived, 1000, ctx.ms(1000), ctx.ms(15000));
    check(c.dataCellsReceived <= 1000, `the exit sent ${c.dataCellsReceived} DATA cells on one circuit without a circuit SENDME (${streams.map((s) => s.dataCells).join("+")})`, "<= 1000", String(c.dataCellsReceived));
    for (const s of streams) check(s.dataCells <= 500, `stream ${s.id} got ${s.dataCells} cells (> 500)`);
    ctx.note(`${c.dataCellsReceived} DATA cells (${streams.map((s) => s.dataCells).join("+")})`);
  }, { ...needs("exit"), timeoutMs: 40_000 }),
  T("flow/exit-sends-sendmes", "relay.proto SENDME AND FLOW CONTROL (authenticated circuit SENDME v1; stream SENDME every 50)", "after 100 DATA cells from the client the exit sends a circuit SENDME v1 with the right digest, and stream SENDMEs", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const s = await server(ctx);
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    await st.write(patternBytes(100 * 498, "flow/up"));
    const deadline = Date.now() + ctx.ms(5000);
    while (Date.now() < deadline && (c.circuitSendmes < 1 || st.sendmesReceived < 2) && !c.destroyed) await sleep(50);
    const bad = c.anomalies.filter((a) => /SENDME/.test(a));
    check(!bad.length, bad[0] ?? "");
    check(c.circuitSendmes >= 1, `no circuit SENDME after 100 DATA cells (${c.describeState()})`);
    check(st.sendmesReceived >= 2, `${st.sendmesReceived} stream SENDMEs after 100 DATA cells, expected 2`);
  }, needs("exit")),
  T("flow/sendme-overflow", "relay.proto SENDME AND FLOW CONTROL (a SENDME above the initial window: DESTROY PROTOCOL)", "a circuit SENDME the exit never asked for destroys the circuit", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const s = await server(ctx);
    await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    c.sendCell(0, RelayCommand.SENDME, 0, pb(SendmeSchema, { version: 1, digest: u8(randomBytes(20)) }));
    await expectDestroy(ctx, c, "unrequested circuit SENDME", DestroyReason.PROTOCOL);
  }, needs("exit")),
  T("flow/stream-sendme-overflow", "relay.proto SENDME AND FLOW CONTROL (stream window above 500: DESTROY PROTOCOL)", "a stream SENDME while the stream window is full destroys the circuit", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const s = await server(ctx);
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    c.sendCell(0, RelayCommand.SENDME, st.id, pb(SendmeSchema, { version: 0 }));
    await expectDestroy(ctx, c, "unrequested stream SENDME", DestroyReason.PROTOCOL);
  }, needs("exit")),

  // ------------------------------------------------------------------ congestion control
  T("cc/negotiate", "relay.proto CONGESTION CONTROL (negotiation; SENDME_INC 31; no stream SENDMEs)", "the exit adopts version 1, then delivers a download intact with circuit SENDMEs every 31 cells and no stream SENDMEs", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await ccCircuit(ctx, exit);
    const data = patternBytes(1500 * 498, "cc/download");
    const s = await server(ctx, { send: data, endAfterSend: true });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    const got = await st.waitBytes(data.length, ctx.ms(20000));
    check(got, `received ${st.bytesReceived} of ${data.length} bytes (${c.describeState()})`);
    check(sha256hex(st.received().subarray(0, data.length)) === sha256hex(data), "the bytes received are not the server's");
    check(!c.anomalies.length, c.anomalies[0] ?? "");
    check(st.sendmesReceived === 0, `${st.sendmesReceived} stream SENDMEs under congestion control`, "0", String(st.sendmesReceived));
  }, { ...needs("exit", "congestionControl"), timeoutMs: 40_000 }),
  T("cc/initial-window", "relay.proto CONGESTION CONTROL (cwnd starts at CWND_INIT = 124)", "without SENDMEs the exit sends at most 124 DATA cells, and more once they are acknowledged", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await ccCircuit(ctx, exit, { autoSendme: false });
    const s = await server(ctx, { send: patternBytes(600 * 498, "cc/window") });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    await drain(c, () => st.dataCells, CC_CWND_INIT, ctx.ms(1000), ctx.ms(10000));
    const first = st.dataCells;
    check(first <= CC_CWND_INIT, `the exit sent ${first} DATA cells before any SENDME`, `<= ${CC_CWND_INIT}`, String(first));
    check(first >= CC_SENDME_EVERY, `the exit sent only ${first} DATA cells: too few for a SENDME`, `>= ${CC_SENDME_EVERY}`, String(first));
    const data = c.inbound.filter((i) => i.cell.command === RelayCommand.DATA);
    for (let n = CC_SENDME_EVERY; n <= first; n += CC_SENDME_EVERY) {
      c.sendCell(c.lastHop, RelayCommand.SENDME, 0, pb(SendmeSchema, { version: 1, digest: data[n - 1].digest }));
    }
    await drain(c, () => st.dataCells, first + 1, ctx.ms(1000), ctx.ms(10000));
    check(st.dataCells > first && !c.destroyed, `no DATA after SENDMEs for all ${first} cells (${c.describeState()})`, `> ${first}`, String(st.dataCells));
    ctx.note(`${first} DATA cells in the first window, ${st.dataCells} after acknowledging them`);
  }, { ...needs("exit", "congestionControl"), timeoutMs: 40_000 }),
  T("cc/exit-sendmes", "relay.proto CONGESTION CONTROL (a circuit SENDME v1 per 31 DATA cells)", "after 62 DATA cells from the client the exit sends two circuit SENDMEs with the right digests and no stream SENDME", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await ccCircuit(ctx, exit);
    const s = await server(ctx);
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    await st.write(patternBytes(2 * CC_SENDME_EVERY * 498, "cc/up"));
    const deadline = Date.now() + ctx.ms(5000);
    while (Date.now() < deadline && c.circuitSendmes < 2 && !c.destroyed) await sleep(50);
    check(!c.anomalies.length, c.anomalies[0] ?? "");
    check(c.circuitSendmes === 2, `${c.circuitSendmes} circuit SENDMEs after 62 DATA cells (${c.describeState()})`, "2", String(c.circuitSendmes));
    check(st.sendmesReceived === 0, `${st.sendmesReceived} stream SENDMEs under congestion control`, "0", String(st.sendmesReceived));
  }, needs("exit", "congestionControl")),
  T("cc/stream-sendme", "relay.proto CONGESTION CONTROL (a stream SENDME: DESTROY PROTOCOL)", "a stream SENDME on a circuit with congestion control destroys it", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await ccCircuit(ctx, exit);
    const s = await server(ctx);
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    c.sendCell(c.lastHop, RelayCommand.SENDME, st.id, pb(SendmeSchema, { version: 0 }));
    await expectDestroy(ctx, c, "stream SENDME under congestion control", DestroyReason.PROTOCOL);
  }, needs("exit", "congestionControl")),
  T("cc/xoff-honoured", "relay.proto CONGESTION CONTROL (XOFF stops a stream's DATA, XON resumes it)", "after XOFF the exit stops sending on the stream, after XON it sends again", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await ccCircuit(ctx, exit);
    const total = 40_000;
    const s = await server(ctx, { send: patternBytes(total * 498, "cc/xoff") });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    const until = Date.now() + ctx.ms(10000);
    while (st.dataCells < 100 && Date.now() < until && !c.destroyed) await sleep(5);
    st.sendXoffXon(false);
    // What was in flight still arrives; then the stream must stay quiet.
    await drain(c, () => st.dataCells, 0, ctx.ms(500), ctx.ms(5000));
    const stopped = st.dataCells;
    await sleep(ctx.ms(1000));
    check(st.dataCells === stopped && !c.destroyed, `the exit sent ${st.dataCells - stopped} DATA cells more than a second after XOFF (${c.describeState()})`, String(stopped), String(st.dataCells));
    check(stopped < total, "the whole download arrived before XOFF could act: nothing was tested");
    st.sendXoffXon(true);
    await drain(c, () => st.dataCells, stopped + 1, ctx.ms(500), ctx.ms(10000));
    check(st.dataCells > stopped, `no DATA after XON (${c.describeState()})`, `> ${stopped}`, String(st.dataCells));
    check(!c.anomalies.length, c.anomalies[0] ?? "");
    ctx.note(`${stopped} DATA cells until XOFF took effect, ${st.dataCells} after XON`);
  }, { ...needs("exit", "congestionControl"), timeoutMs: 40_000 }),
  T("cc/exit-sends-xoff", "relay.proto CONGESTION CONTROL (XOFF when more than XOFF_BYTES are held for a stream)", "uploading to a destination that never reads, the client gets XOFF from the exit", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await ccCircuit(ctx, exit);
    const s = await server(ctx, { neverRead: true });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    // Enough to fill the kernel's buffers at both ends and then XOFF_BYTES at the exit.
    const upload = st.write(patternBytes(40_000 * 498, "cc/never-read"), ctx.ms(30000)).catch(() => undefined);
    const deadline = Date.now() + ctx.ms(30000);
    while (Date.now() < deadline && st.xoffsReceived === 0 && !c.destroyed) await sleep(50);
    check(st.xoffsReceived > 0, `no XOFF from the exit after ${c.circuitSendmes * CC_SENDME_EVERY} acknowledged DATA cells to a destination that never reads (${c.describeState()})`);
    check(!c.anomalies.length, c.anomalies[0] ?? "");
    c.destroy();
    await upload;
  }, { ...needs("exit", "congestionControl"), timeoutMs: 60_000 }),
  T("cc/late-request", "relay.proto CONGESTION CONTROL (a request after a BEGIN: DESTROY PROTOCOL)", "CONGESTION_CONTROL_REQUEST after a stream was opened destroys the circuit", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const s = await server(ctx);
    await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    c.sendCell(c.lastHop, RelayCommand.CONGESTION_CONTROL_REQUEST, 0, pb(CongestionControlRequestSchema, { version: 1 }));
    await expectDestroy(ctx, c, "CONGESTION_CONTROL_REQUEST after BEGIN", DestroyReason.PROTOCOL);
  }, needs("exit", "congestionControl")),
  T("cc/second-request", "relay.proto CONGESTION CONTROL (a second request: DESTROY PROTOCOL)", "a second CONGESTION_CONTROL_REQUEST destroys the circuit", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await ccCircuit(ctx, exit);
    c.sendCell(c.lastHop, RelayCommand.CONGESTION_CONTROL_REQUEST, 0, pb(CongestionControlRequestSchema, { version: 1 }));
    await expectDestroy(ctx, c, "second CONGESTION_CONTROL_REQUEST", DestroyReason.PROTOCOL);
  }, needs("exit", "congestionControl")),
  T("cc/unknown-version", "relay.proto CongestionControlRequest.version (other values: answered 0)", "a request for version 2 is declined with version 0, and the fixed windows stay", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const version = await c.negotiateCongestionControl({ version: 2, timeoutMs: ctx.ms(5000) });
    check(version === 0, `version 2 answered ${version === undefined ? "with nothing" : `version ${version}`}`, "0", String(version));
    const s = await server(ctx, { send: patternBytes(60 * 498, "cc/declined") });
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    await st.write(patternBytes(100 * 498, "cc/declined-up"));
    const deadline = Date.now() + ctx.ms(5000);
    while (Date.now() < deadline && st.sendmesReceived < 2 && !c.destroyed) await sleep(50);
    check(st.sendmesReceived >= 2, `${st.sendmesReceived} stream SENDMEs after 100 DATA cells on a declined circuit, expected 2 (${c.describeState()})`);
  }, needs("exit", "congestionControl")),
  T("cc/xoff-without-cc", "relay.proto CONGESTION CONTROL (XOFF on a circuit without congestion control: DESTROY PROTOCOL)", "XOFF on a circuit with fixed windows destroys it", async (ctx) => {
    const exit = await exitRelay(ctx);
    const c = await circuit(ctx, exit);
    const s = await server(ctx);
    const st = await c.begin("127.0.0.1", s.port, { timeoutMs: ctx.ms(5000) }).catch((e) => fail(`BEGIN failed: ${e.message}`));
    st.sendXoffXon(false);
    await expectDestroy(ctx, c, "XOFF without congestion control", DestroyReason.PROTOCOL);
  }, needs("exit")),
];
