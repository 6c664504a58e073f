/**
 * The HSDir's store (onion_service.proto HSDIRS): what it keeps (checked descriptors, the
 * highest revision per blinded key, until they expire, within its count limit) and one
 * request per BEGIN_DIR stream.
 */
import { randomBytes } from "node:crypto";
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { sizeDelimitedEncode, sizeDelimitedPeek } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { HsDirRequestSchema, HsDirResponseSchema, HsDirStatus, IntroPointSchema, OnionDescriptorInnerSchema } from "../../gen/meowonion/v1/onion_service_pb.js";
import { sealOnionDescriptor } from "../netdoc/onion-descriptor.js";
import { blindPublicKey, blindSecretKey, expandEd25519Seed, publicKeyOfExpanded, subcredential } from "../onion/hs/blinding.js";
import { timePeriodAt } from "../onion/hs/time-period.js";
import { HsDirStore } from "./hsdir.js";

const now = Date.parse("2026-12-07T12:00:00Z");
const period = timePeriodAt(now);

function service() {
  const identity = expandEd25519Seed(randomBytes(32));
  const A = publicKeyOfExpanded(identity);
  const blindedKey = blindPublicKey(A, period);
  const inner = create(OnionDescriptorInnerSchema, {
    introPoints: [create(IntroPointSchema, { ntorOnionKey: randomBytes(32), authKey: randomBytes(32), encKey: randomBytes(32) })],
  });
  const descriptor = (revision: bigint, options: { lifetimeSeconds?: number; secret?: typeof identity } = {}) =>
    sealOnionDescriptor(
      { version: 3, blindedKey, periodNum: BigInt(period.number), revisionCounter: revision, published: timestampFromMs(now), lifetimeSeconds: options.lifetimeSeconds ?? 3600 },
      inner,
      subcredential(A, blindedKey),
      options.secret ?? blindSecretKey(identity, period),
    );
  return { identity, blindedKey, descriptor };
}

describe("HsDirStore", () => {
  it("keeps the highest revision, serves it byte for byte, and refuses stale ones", () => {
    let clock = now;
    const store = new HsDirStore(10, () => clock);
    const s = service();
    expect(store.store(s.descriptor(5n)).status).toBe(HsDirStatus.OK);
    expect(store.store(s.descriptor(5n)).status).toBe(HsDirStatus.STALE);
    expect(store.store(s.descriptor(4n)).status).toBe(HsDirStatus.STALE);
    const newer = s.descriptor(6n);
    expect(store.store(newer).status).toBe(HsDirStatus.OK);
    const fetched = store.fetch(s.blindedKey);
    expect(fetched.status).toBe(HsDirStatus.OK);
    expect(Buffer.from(fetched.descriptor!.descriptor)).toEqual(Buffer.from(newer.descriptor));
    // Past its lifetime it is gone.
    clock = now + 3600_000;
    expect(store.fetch(s.blindedKey).status).toBe(HsDirStatus.NOT_FOUND);
  });

  it("refuses a descriptor signed by the unblinded key, and one too many", () => {
    const store = new HsDirStore(1, () => now);
    const s = service();
    expect(store.store(s.descriptor(1n, { secret: s.identity })).status).toBe(HsDirStatus.INVALID);
    expect(store.store(s.descriptor(1n)).status).toBe(HsDirStatus.OK);
    expect(store.store(service().descriptor(1n)).status).toBe(HsDirStatus.REFUSED);
    expect(store.fetch(randomBytes(31)).status).toBe(HsDirStatus.INVALID);
  });

  it("answers one size-delimited request per directory stream", async () => {
    const store = new HsDirStore(10, () => now);
    const s = service();
    store.store(s.descriptor(1n));
    const stream = store.openStream();
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => stream.on("end", resolve));
    const request = sizeDelimitedEncode(HsDirRequestSchema, create(HsDirRequestSchema, { request: { case: "fetchBlindedKey", value: s.blindedKey } }));
    // In two pieces, as cells may split it.
    stream.write(request.subarray(0, 10));
    stream.write(request.subarray(10));
    await ended;
    const bytes = Buffer.concat(chunks);
    const peek = sizeDelimitedPeek(bytes);
    if (peek.eof) throw new Error("no complete response");
    expect(fromBinary(HsDirResponseSchema, bytes.subarray(peek.offset, peek.offset + peek.size)).status).toBe(HsDirStatus.OK);
  });
});
