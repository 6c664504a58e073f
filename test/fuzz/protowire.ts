/**
 * Arbitrary protobuf wire data: sequences of well-formed (or slightly broken) tag/value pairs,
 * nested a few levels deep. Random bytes rarely get past protobuf's first tag; these reach the
 * field-level checks of every decoder (wrong wire type for a field, huge varints, lengths that
 * overrun, unknown fields, groups, repeated scalars packed and unpacked, invalid UTF-8 in
 * string fields, ...).
 */
import fc from "fast-check";
import { concatBytes } from "./mutate.js";

export function varint(value: bigint): Uint8Array {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

const varintValue = fc.oneof(
  fc.bigInt({ min: 0n, max: 300n }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(0n, 1n, 127n, 128n, 0x7fffffffn, 0x80000000n, 0xffffffffn, (1n << 63n) - 1n, (1n << 64n) - 1n),
);

const fieldNumber = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 16 }) },
  { weight: 1, arbitrary: fc.integer({ min: 17, max: 1 << 20 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 19000, 536870911) },
);

function field(inner: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fieldNumber, varintValue).map(([n, v]) => concatBytes([varint(BigInt(n) << 3n), varint(v)])) },
    { weight: 1, arbitrary: fc.tuple(fieldNumber, fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([n, b]) => concatBytes([varint((BigInt(n) << 3n) | 1n), b])) },
    { weight: 1, arbitrary: fc.tuple(fieldNumber, fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([n, b]) => concatBytes([varint((BigInt(n) << 3n) | 5n), b])) },
    {
      weight: 5,
      arbitrary: fc
        .tuple(fieldNumber, inner, fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 1 << 20 }) }))
        .map(([n, body, lie]) => concatBytes([varint((BigInt(n) << 3n) | 2n), varint(BigInt(Math.max(0, body.length + lie))), body])),
    },
    // Groups and reserved wire types: start/end group, 6, 7.
    { weight: 1, arbitrary: fc.tuple(fieldNumber, fc.constantFrom(3n, 4n, 6n, 7n)).map(([n, wt]) => varint((BigInt(n) << 3n) | wt)) },
  );
}

const leaf = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 40 }),
  fc.string({ maxLength: 20 }).map((s) => new TextEncoder().encode(s)),
  fc.constantFrom(new Uint8Array([0xc3, 0x28]), new Uint8Array([0xed, 0xa0, 0x80]), new Uint8Array([0xff])),
);

const { message } = fc.letrec<{ message: Uint8Array; body: Uint8Array }>((tie) => ({
  body: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("message")),
  message: fc.array(field(tie("body")), { maxLength: 8, depthIdentifier: "pb" }).map((fields) => concatBytes(fields)),
}));

/** Protobuf-looking wire data of any message. */
export const protoWire: fc.Arbitrary<Uint8Array> = message;
