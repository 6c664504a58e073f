/**
 * Heartbeat over real HTTP/2: acceptance, and each refusal with its Code (unknown relay,
 * bad signature, stale and future sent_at, replay, rate limit, malformed).
 */
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HeartbeatRequestSchema } from "../../gen/meowonion/v1/directory_pb.js";
import type { DirectoryClient } from "../netdoc/directory-client.js";
import { codeOf, makeRelay, type TestRelay } from "../../test/helpers/directory.js";
import { HEARTBEAT_RATE_LIMIT } from "./heartbeat-log.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

let client: DirectoryClient;
let relay: TestRelay;

beforeEach(async () => {
  ({ client } = await startTestDirectory(cleanups));
  relay = await makeRelay(cleanups);
  await client.rpc.publishDescriptor({ descriptor: relay.descriptor() });
});

describe("Heartbeat", () => {
  it("accepts a fresh signed heartbeat and reports Running once the reachability test passed", async () => {
    const first = await client.rpc.heartbeat(relay.heartbeat());
    expect(typeof first.running).toBe("boolean");
    // The first heartbeat starts the reachability test; a later one sees its result.
    let running = first.running;
    const deadline = Date.now() + 5_000;
    while (!running && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      running = (await client.rpc.heartbeat(relay.heartbeat())).running;
    }
    expect(running).toBe(true);
  });

  it("refuses a relay it holds no descriptor for with NOT_FOUND", async () => {
    const stranger = await makeRelay(cleanups, { listen: false });
    expect(await codeOf(client.rpc.heartbeat(stranger.heartbeat()))).toBe(Code.NotFound);
  });

  it("refuses a bad signature with UNAUTHENTICATED", async () => {
    const hb = relay.heartbeat();
    hb.signature[5] ^= 0x40;
    expect(await codeOf(client.rpc.heartbeat(hb))).toBe(Code.Unauthenticated);
  });

  it("refuses a heartbeat signed by another key with UNAUTHENTICATED", async () => {
    const other = await makeRelay(cleanups, { listen: false });
    const hb = relay.heartbeat();
    const forged = create(HeartbeatRequestSchema, { heartbeat: hb.heartbeat, signature: other.heartbeat().signature });
    expect(await codeOf(client.rpc.heartbeat(forged))).toBe(Code.Unauthenticated);
  });

  it("refuses stale and future sent_at (beyond 60 s) with OUT_OF_RANGE", async () => {
    expect(await codeOf(client.rpc.heartbeat(relay.heartbeat({ sentAtMs: Date.now() - 61_000 })))).toBe(Code.OutOfRange);
    expect(await codeOf(client.rpc.heartbeat(relay.heartbeat({ sentAtMs: Date.now() + 61_000 })))).toBe(Code.OutOfRange);
    await client.rpc.heartbeat(relay.heartbeat({ sentAtMs: Date.now() - 50_000 }));
  });

  it("refuses a replayed heartbeat (same nonce) with ALREADY_EXISTS", async () => {
    const hb = relay.heartbeat();
    await client.rpc.heartbeat(hb);
    expect(await codeOf(client.rpc.heartbeat(hb))).toBe(Code.AlreadyExists);
    // A new signature over a reused nonce is a replay too.
    const nonce = randomBytes(16);
    await client.rpc.heartbeat(relay.heartbeat({ nonce }));
    expect(await codeOf(client.rpc.heartbeat(relay.heartbeat({ nonce, sentAtMs: Date.now() + 1 })))).toBe(Code.AlreadyExists);
  });

  it(`refuses more than ${HEARTBEAT_RATE_LIMIT} heartbeats a minute with RESOURCE_EXHAUSTED`, async () => {
    for (let i = 0; i < HEARTBEAT_RATE_LIMIT; i++) await client.rpc.heartbeat(relay.heartbeat());
    expect(await codeOf(client.rpc.heartbeat(relay.heartbeat()))).toBe(Code.ResourceExhausted);
  });

  it("refuses malformed heartbeats with INVALID_ARGUMENT", async () => {
    const hb = relay.heartbeat();
    expect(await codeOf(client.rpc.heartbeat({ heartbeat: new Uint8Array(0), signature: hb.signature }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.rpc.heartbeat({ heartbeat: new Uint8Array([0xff, 0xff]), signature: hb.signature }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.rpc.heartbeat({ heartbeat: hb.heartbeat, signature: new Uint8Array(10) }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.rpc.heartbeat({ heartbeat: new Uint8Array(300), signature: hb.signature }))).toBe(Code.InvalidArgument);
  });
});
