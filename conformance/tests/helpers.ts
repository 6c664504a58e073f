/** Helpers shared by the test categories. */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { directoryClient, type DirectoryClient } from "../lib/directory-client.js";
import { verifyConsensus } from "../lib/documents.js";
import { type TestContext, fail, skip } from "../framework.js";
import type { ResolvedRelay } from "../target.js";

export function codeName(c: Code): string {
  return Code[c] ?? String(c);
}

/** Await `p` and require a Connect error with `code`. */
export async function expectCode(p: Promise<unknown>, code: Code | Code[], what: string): Promise<ConnectError> {
  const codes = Array.isArray(code) ? code : [code];
  const want = codes.map(codeName).join(" or ");
  try {
    await p;
  } catch (e) {
    const ce = ConnectError.from(e);
    if (codes.includes(ce.code)) return ce;
    fail(`${what}: got ${codeName(ce.code)} (${ce.rawMessage.slice(0, 120)}), expected ${want}`, want, codeName(ce.code));
  }
  fail(`${what}: accepted (OK), expected ${want}`, want, "OK");
}

export async function expectOk<T>(p: Promise<T>, what: string): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const ce = ConnectError.from(e);
    fail(`${what}: refused with ${codeName(ce.code)} (${ce.rawMessage.slice(0, 160)})`, "OK", codeName(ce.code));
  }
}

const clients = new WeakMap<object, DirectoryClient>();

/** The directory under test, with one client (one HTTP/2 session) shared by the run's tests. */
export function dir(ctx: TestContext): { client: DirectoryClient; url: string; key: Uint8Array } {
  const d = ctx.target.directory;
  if (!d) skip("no directory given");
  let client = clients.get(d);
  if (!client) {
    client = directoryClient(d.url);
    clients.set(d, client);
  }
  return { client, url: d.url, key: d.key };
}

export interface FetchedConsensus {
  consensus: Consensus;
  bytes: Uint8Array;
  interval: number;
}

/** GetConsensus, verified with the directory key; waits while UNAVAILABLE (none made yet). */
export async function fetchConsensus(ctx: TestContext, timeoutMs = 20_000): Promise<FetchedConsensus> {
  const { client, key } = dir(ctx);
  const end = Date.now() + ctx.ms(timeoutMs);
  for (;;) {
    try {
      const res = await client.getConsensus({});
      if (!res.consensus) fail("GetConsensus answered without a consensus");
      const v = verifyConsensus(res.consensus, key);
      if (!v.ok) fail(`consensus does not verify with the directory key: ${v.why}`);
      const c = v.consensus!;
      const interval = c.freshUntil && c.validAfter ? (timestampMs(c.freshUntil) - timestampMs(c.validAfter)) / 1000 : 60;
      return { consensus: c, bytes: res.consensus.consensus, interval };
    } catch (e) {
      if (e instanceof ConnectError && e.code === Code.Unavailable && Date.now() < end) {
        await sleep(300);
        continue;
      }
      throw e;
    }
  }
}

/**
 * The consensus once it lists at least `minRelays` relays (relays just started may take a
 * voting period or two to be listed); fails if it does not within `timeoutMs`.
 */
export async function fetchConsensusListing(ctx: TestContext, minRelays: number, timeoutMs = 30_000): Promise<FetchedConsensus> {
  const end = Date.now() + ctx.ms(timeoutMs);
  for (;;) {
    const fetched = await fetchConsensus(ctx);
    if (fetched.consensus.relays.length >= minRelays) return fetched;
    if (Date.now() >= end) fail(`the consensus lists ${fetched.consensus.relays.length} relays, expected at least ${minRelays}`);
    await sleep(300);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The relays under test with their onion keys (skips when none is known). */
export async function relays(ctx: TestContext): Promise<ResolvedRelay[]> {
  let rs: ResolvedRelay[];
  try {
    rs = await ctx.target.resolveRelays(ctx.ms(30_000));
  } catch (e) {
    fail(`cannot learn the relays' onion keys: ${(e as Error).message}`);
  }
  if (!rs.length) skip("no relay with a known onion key (give --directory, or onion-key= in the launch line)");
  return rs;
}
