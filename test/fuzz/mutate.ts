/**
 * Structure-aware input generation: random bytes find shallow bugs only, so most targets also
 * start from VALID encodings and mutate them (bit flips, byte overwrites with boundary values,
 * insertions, deletions, truncation, duplication), the classic mutation fuzzer moves.
 */
import fc from "fast-check";

type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; value: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; count: number }
  | { op: "truncate"; at: number }
  | { op: "duplicate"; at: number; count: number };

const interesting = fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x08, 0x0a, 0x12, 0x1a, 0x22);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: fc.oneof(interesting, fc.integer({ min: 0, max: 255 })) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("duplicate" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 64 }) }) },
);

export function applyMutations(base: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(base);
  for (const m of mutations) {
    const n = bytes.length;
    switch (m.op) {
      case "flip":
        if (n > 0) bytes[m.at % n] ^= 1 << m.bit;
        break;
      case "set":
        if (n > 0) bytes[m.at % n] = m.value;
        break;
      case "insert": {
        const at = m.at % (n + 1);
        const out = new Uint8Array(n + m.bytes.length);
        out.set(bytes.subarray(0, at), 0);
        out.set(m.bytes, at);
        out.set(bytes.subarray(at), at + m.bytes.length);
        bytes = out;
        break;
      }
      case "delete": {
        if (n === 0) break;
        const at = m.at % n;
        const out = new Uint8Array(n - Math.min(m.count, n - at));
        out.set(bytes.subarray(0, at), 0);
        out.set(bytes.subarray(at + m.count), at);
        bytes = out;
        break;
      }
      case "truncate":
        bytes = bytes.slice(0, m.at % (n + 1));
        break;
      case "duplicate": {
        if (n === 0) break;
        const at = m.at % n;
        const piece = bytes.slice(at, at + m.count);
        const out = new Uint8Array(n + piece.length);
        out.set(bytes.subarray(0, at + piece.length), 0);
        out.set(piece, at + piece.length);
        out.set(bytes.subarray(at + piece.length), at + 2 * piece.length);
        bytes = out;
        break;
      }
    }
  }
  return bytes;
}

/** Valid encodings from `valid`, each mutated 0..maxMutations times. */
export function mutated(valid: fc.Arbitrary<Uint8Array>, maxMutations = 4): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(valid, fc.array(mutation, { minLength: 0, maxLength: maxMutations }))
    .map(([base, ms]) => applyMutations(base, ms));
}

/** Pure random bytes, valid encodings, and mutated valid encodings, mixed. */
export function hostileBytes(valid: fc.Arbitrary<Uint8Array>, maxRandomLength: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: maxRandomLength }) },
    { weight: 1, arbitrary: valid },
    { weight: 5, arbitrary: mutated(valid) },
  );
}

/** Split `bytes` at the given cut points (taken modulo its length), as a socket might. */
export function chunk(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  if (bytes.length === 0) return [bytes];
  const points = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
