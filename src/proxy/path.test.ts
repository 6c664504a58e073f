import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ConsensusRelay, RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import { keyOf, policy, relay } from "../../test/helpers/consensus-fixtures.js";
import {
  conflicts,
  exitCandidates,
  guardCandidates,
  hasFlag,
  inSameFamily,
  sameSubnet,
  isUsable,
  PathError,
  canExitTo,
  replaceHop,
  sameKey,
  selectPath,
  weightedChoice,
} from "./path.js";

const { RUNNING, VALID, FAST, GUARD, EXIT, BAD_EXIT } = RelayFlag;

/** A deterministic [0,1) source driven by fast-check (so failures shrink and replay). */
function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const policies = [
  policy(),
  policy("accept *:1-65535"),
  policy("accept 127.0.0.0/8:1-65535"),
  policy("reject *:80", "accept *:1-65535"),
  policy("accept *:443"),
  policy("reject 127.0.0.1:80", "accept *:80"),
];

const relayArb = (id: number) =>
  fc.record({
    subnet: fc.integer({ min: 0, max: 3 }),
    // Some relays also have an IPv6 address; the /32 is the first two groups.
    subnet6: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    flags: fc.subarray([RUNNING, VALID, FAST, GUARD, EXIT, BAD_EXIT]),
    bandwidth: fc.integer({ min: 0, max: 5000 }),
    policy: fc.integer({ min: 0, max: policies.length - 1 }),
  }).map((r) => ({ id, ...r }));

const networkArb = fc
  .integer({ min: 1, max: 12 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => relayArb(i + 1))))
  .chain((specs) =>
    fc
      // Family declarations, some one-sided (which do not make a family).
      .array(fc.tuple(fc.integer({ min: 1, max: specs.length }), fc.integer({ min: 1, max: specs.length }), fc.boolean()), { maxLength: 6 })
      .map((pairs): ConsensusRelay[] =>
        specs.map((s) =>
          relay({
            id: s.id,
            address: `10.${s.subnet}.${s.id}.1`,
            ipv6: s.subnet6 === undefined ? undefined : `2001:${s.subnet6}:${s.id}::1`,
            flags: s.flags.sort((a, b) => a - b),
            bandwidth: s.bandwidth,
            exitPolicy: policies[s.policy],
            family: pairs.flatMap(([a, b, mutual]) => (a === s.id ? [b] : b === s.id && mutual ? [a] : [])),
          }),
        ),
      ),
  );

describe("selectPath properties", () => {
  it("every path it returns obeys Tor's rules", () => {
    fc.assert(
      fc.property(
        networkArb,
        fc.integer({ min: 1, max: 4 }),
        fc.option(
          fc.record({ port: fc.constantFrom(80, 443, 22), address: fc.constantFrom(undefined, "127.0.0.1", "192.0.2.1") }),
          { nil: undefined },
        ),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 2 }),
        fc.integer(),
        (relays, hops, exitTo, enforceDistinctSubnets, guardIds, excludedIds, seed) => {
          const guards = guardIds.map(keyOf);
          const excludeExits = excludedIds.map(keyOf);
          let path: ConsensusRelay[];
          let fresh: boolean;
          try {
            ({ relays: path, entryOutsideGuardSet: fresh } = selectPath(relays, {
              hops,
              exitTo,
              guards,
              enforceDistinctSubnets,
              excludeExits,
              random: seeded(seed),
            }));
          } catch (err) {
            expect(err).toBeInstanceOf(PathError);
            return;
          }
          expect(path).toHaveLength(hops);
          for (const r of path) expect(isUsable(r)).toBe(true);
          for (let i = 0; i < path.length; i++) {
            for (let j = i + 1; j < path.length; j++) {
              expect(sameKey(path[i].identityKey, path[j].identityKey)).toBe(false);
              expect(inSameFamily(path[i], path[j])).toBe(false);
              if (enforceDistinctSubnets) expect(sameSubnet(path[i], path[j])).toBe(false);
            }
          }
          const exit = path[hops - 1];
          expect(hasFlag(exit, BAD_EXIT)).toBe(false);
          expect(excludeExits.some((k) => sameKey(k, exit.identityKey))).toBe(false);
          if (exitTo !== undefined) expect(canExitTo(exit, exitTo)).toBe(true);
          else expect(exitCandidates(relays, undefined)).toContain(exit);
          if (hops > 1) {
            // The entry is the first listed guard that fits next to the exit, if there is one.
            const firstFitting = guards
              .map((k) => relays.find((r) => sameKey(r.identityKey, k)))
              .find((r) => r !== undefined && isUsable(r) && !conflicts(r, exit, enforceDistinctSubnets));
            if (firstFitting) {
              expect(path[0]).toBe(firstFitting);
              expect(fresh).toBe(false);
            } else {
              expect(fresh).toBe(true);
              expect(guardCandidates(relays)).toContain(path[0]);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("onion-service circuits (a last hop fixed by the protocol, or one we choose) obey the same rules at every position", () => {
    fc.assert(
      fc.property(networkArb, fc.integer({ min: 2, max: 4 }), fc.boolean(), fc.integer({ min: 1, max: 12 }), fc.boolean(), fc.integer(), (relays, hops, chosen, pick, enforceDistinctSubnets, seed) => {
        const target = relays[(pick - 1) % relays.length];
        const accept = (r: ConsensusRelay) => r.bandwidthWeight % 2n === 0n;
        let path: ConsensusRelay[];
        try {
          ({ relays: path } = selectPath(relays, {
            hops,
            ...(chosen ? { lastHopAmong: accept } : { lastHop: target }),
            guards: relays.slice(0, 3).map((r) => r.identityKey),
            enforceDistinctSubnets,
            random: seeded(seed),
          }));
        } catch (err) {
          expect(err).toBeInstanceOf(PathError);
          return;
        }
        expect(path).toHaveLength(hops);
        if (chosen) expect(accept(path.at(-1)!)).toBe(true);
        else expect(path.at(-1)).toBe(target);
        for (let i = 0; i < path.length; i++) {
          expect(isUsable(path[i])).toBe(true);
          for (let j = i + 1; j < path.length; j++) expect(conflicts(path[i], path[j], enforceDistinctSubnets)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("always finds a path when enough unrelated usable relays and an exit exist", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer(),
        (hops, extra, seed) => {
          const relays = Array.from({ length: hops + extra }, (_, i) =>
            relay({ id: i + 1, exitPolicy: i === 0 ? policy("accept *:1-65535") : policy() }),
          );
          const { relays: path } = selectPath(relays, { hops, exitTo: { port: 80 }, guards: [], enforceDistinctSubnets: true, random: seeded(seed) });
          expect(path).toHaveLength(hops);
          expect(path[hops - 1].nickname).toBe("relay1");
        },
      ),
    );
  });
});

describe("selectPath examples", () => {
  const loopback = (id: number, extra: Partial<Parameters<typeof relay>[0]> = {}) =>
    relay({ id, address: "127.0.0.1", ...extra });

  it("ends at a fixed last hop whatever its exit policy (HSDir, intro or rendezvous point), and refuses an unusable one", () => {
    const relays = [1, 2, 3, 4, 5].map((id) => relay({ id }));
    for (let seed = 1; seed <= 20; seed++) {
      const { relays: path } = selectPath(relays, { hops: 4, lastHop: relays[2], guards: [], enforceDistinctSubnets: true, random: seeded(seed) });
      expect(path).toHaveLength(4);
      expect(path.at(-1)!.nickname).toBe("relay3");
      expect(path.slice(0, -1).map((r) => r.nickname)).not.toContain("relay3");
    }
    const notRunning = relay({ id: 6, flags: [VALID] });
    expect(() => selectPath([...relays, notRunning], { hops: 3, lastHop: notRunning, guards: [], enforceDistinctSubnets: true })).toThrow(
      expect.objectContaining({ missing: "exit" }),
    );
  });

  it("keeps relays of one IPv6 /32 apart, whatever their IPv4 addresses", () => {
    const exit = relay({ id: 1, ipv6: "2001:db8:1::1", exitPolicy: policy("accept *:1-65535") });
    const sameSlash32 = relay({ id: 2, ipv6: "2001:db8:ffff::2" });
    const other = relay({ id: 3, ipv6: "2001:db9::3" });
    const v4Only = relay({ id: 4 });
    expect(sameSubnet(exit, sameSlash32)).toBe(true);
    expect(sameSubnet(exit, other)).toBe(false);
    expect(sameSubnet(exit, v4Only)).toBe(false);
    expect(conflicts(exit, sameSlash32, false)).toBe(false);
    for (let seed = 1; seed <= 20; seed++) {
      const { relays: path } = selectPath([exit, sameSlash32, other, v4Only], { hops: 3, guards: [], enforceDistinctSubnets: true, random: seeded(seed) });
      expect(path.map((r) => r.nickname)).not.toContain("relay2");
    }
    expect(() => selectPath([exit, sameSlash32, other], { hops: 3, guards: [], enforceDistinctSubnets: true })).toThrow(PathError);
  });

  it("replaces a failed middle or exit under the same rules (re-extending after TRUNCATED)", () => {
    const web = policy("accept *:443");
    const guard = relay({ id: 1 });
    const middle = relay({ id: 2 });
    const exit = relay({ id: 3, exitPolicy: web });
    const sameFamilyAsGuard = relay({ id: 4, family: [1], exitPolicy: web });
    const guardWithFamily = relay({ id: 1, family: [4] });
    const spareExit = relay({ id: 5, exitPolicy: web });
    const spareMiddle = relay({ id: 6 });
    const all = [guardWithFamily, middle, exit, sameFamilyAsGuard, spareExit, spareMiddle];
    const options = { hops: 3, exitTo: { port: 443 }, guards: [guard.identityKey], enforceDistinctSubnets: true };
    for (let seed = 1; seed <= 30; seed++) {
      const random = seeded(seed * 0x9e3779b1);
      // The exit: an exit for the port, not the failed one, not the guard's family, not on the path.
      expect(replaceHop(all, [guardWithFamily, middle, exit], 2, { ...options, random })?.nickname).toBe("relay5");
      // A middle: any fitting relay but the failed one and those on the path.
      expect(["relay5", "relay6"]).toContain(replaceHop(all, [guardWithFamily, middle, exit], 1, { ...options, random })?.nickname);
    }
    expect(replaceHop(all, [guardWithFamily, middle, exit], 0, options)).toBeUndefined();
    expect(replaceHop(all, [guardWithFamily, middle, exit], 2, { ...options, lastHop: exit })).toBeUndefined();
    expect(replaceHop(all, [guardWithFamily, middle, exit], 2, { ...options, avoidRelays: [spareExit.identityKey] })).toBeUndefined();
  });

  it("takes a family only from mutual listing: one relay naming another is not enough", () => {
    const a = relay({ id: 1, family: [2] });
    const b = relay({ id: 2 });
    expect(inSameFamily(a, b)).toBe(false);
    expect(conflicts(a, b, true)).toBe(false);
    const c = relay({ id: 3, family: [1] });
    const a2 = relay({ id: 1, family: [2, 3] });
    expect(inSameFamily(a2, c)).toBe(true);
    expect(conflicts(c, a2, false)).toBe(true);
  });

  it("chooses a last hop among the relays asked for, fitting the guard (a rendezvous or intro point)", () => {
    const guard = relay({ id: 1, family: [2] });
    const relays = [guard, relay({ id: 2, family: [1] }), relay({ id: 3 }), relay({ id: 4 }), relay({ id: 5 })];
    const points = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const { relays: path } = selectPath(relays, { hops: 3, lastHopAmong: (r) => r.nickname !== "relay5", guards: [guard.identityKey], enforceDistinctSubnets: true, random: seeded(seed * 0x9e3779b1) });
      expect(path[0]).toBe(guard);
      points.add(path[2].nickname);
    }
    // relay2 is the guard's family and relay5 was not asked for.
    expect([...points].sort()).toEqual(["relay3", "relay4"]);
    expect(() => selectPath(relays, { hops: 3, lastHopAmong: () => false, guards: [], enforceDistinctSubnets: true })).toThrow(
      expect.objectContaining({ missing: "exit" }),
    );
  });

  it("refuses one /16 for the whole path unless subnets are allowed to repeat", () => {
    const relays = [1, 2, 3].map((id) => loopback(id, { exitPolicy: policy("accept *:1-65535") }));
    expect(() => selectPath(relays, { hops: 3, guards: [], enforceDistinctSubnets: true })).toThrow(PathError);
    const { relays: path } = selectPath(relays, { hops: 3, guards: [], enforceDistinctSubnets: false });
    expect(new Set(path.map((r) => r.nickname)).size).toBe(3);
  });

  it("says no-exit when no exit allows the port, and skips BadExit and excluded exits", () => {
    const relays = [
      relay({ id: 1, exitPolicy: policy("reject *:25", "accept *:1-65535") }),
      relay({ id: 2, flags: [RUNNING, VALID, BAD_EXIT], exitPolicy: policy("accept *:25") }),
      relay({ id: 3 }),
      relay({ id: 4 }),
    ];
    expect(() => selectPath(relays, { hops: 3, exitTo: { port: 25 }, guards: [], enforceDistinctSubnets: true })).toThrow(
      expect.objectContaining({ kind: "no-path", missing: "exit" }),
    );
    expect(() =>
      selectPath(relays, { hops: 3, exitTo: { port: 80 }, guards: [], enforceDistinctSubnets: true, excludeExits: [keyOf(1)] }),
    ).toThrow(expect.objectContaining({ kind: "no-path", missing: "exit" }));
    expect(selectPath(relays, { hops: 3, exitTo: { port: 80 }, guards: [], enforceDistinctSubnets: true }).relays[2].nickname).toBe("relay1");
  });

  it("uses the first guard that fits, skipping one that is the exit or in its family", () => {
    const relays = [
      relay({ id: 1, exitPolicy: policy("accept *:1-65535"), family: [2] }),
      relay({ id: 2, family: [1] }),
      relay({ id: 3 }),
      relay({ id: 4 }),
      relay({ id: 5 }),
    ];
    const guards = [keyOf(1), keyOf(2), keyOf(4)];
    for (let i = 0; i < 20; i++) {
      const { relays: path, entryOutsideGuardSet } = selectPath(relays, { hops: 3, exitTo: { port: 80 }, guards, enforceDistinctSubnets: true });
      expect(path[0].nickname).toBe("relay4");
      expect(entryOutsideGuardSet).toBe(false);
    }
  });

  it("prefers exits for ports 80/443 for a preemptive circuit", () => {
    const relays = [
      relay({ id: 1, exitPolicy: policy("accept *:22") }),
      relay({ id: 2, exitPolicy: policy("accept *:443") }),
      relay({ id: 3 }),
    ];
    expect(exitCandidates(relays, undefined).map((r) => r.nickname)).toEqual(["relay2"]);
    expect(exitCandidates(relays.filter((r) => r.nickname !== "relay2"), undefined).map((r) => r.nickname)).toEqual(["relay1"]);
  });

  it("falls back from Guard to Fast to any usable relay for entries", () => {
    const plain = [RUNNING, VALID];
    expect(guardCandidates([relay({ id: 1, flags: plain }), relay({ id: 2, flags: [...plain, GUARD] })]).map((r) => r.nickname)).toEqual([
      "relay2",
    ]);
    expect(guardCandidates([relay({ id: 1, flags: plain }), relay({ id: 2, flags: [...plain, FAST] })]).map((r) => r.nickname)).toEqual([
      "relay2",
    ]);
    expect(guardCandidates([relay({ id: 1, flags: plain }), relay({ id: 2, flags: [RUNNING] })]).map((r) => r.nickname)).toEqual([
      "relay1",
    ]);
  });

  it("rejects a bad hop count", () => {
    for (const hops of [0, 10, 2.5]) {
      expect(() => selectPath([relay({ id: 1 })], { hops, guards: [], enforceDistinctSubnets: false })).toThrow(
        expect.objectContaining({ kind: "invalid-argument" }),
      );
    }
  });
});

describe("canExitTo", () => {
  it("checks an IP literal against the whole policy and a host name against the port only", () => {
    const exit = relay({ id: 1, exitPolicy: policy("reject 127.0.0.1:80", "accept *:80") });
    expect(canExitTo(exit, { port: 80 })).toBe(true);
    expect(canExitTo(exit, { address: "127.0.0.1", port: 80 })).toBe(false);
    expect(canExitTo(exit, { address: "127.0.0.2", port: 80 })).toBe(true);
    expect(canExitTo(exit, { port: 81 })).toBe(false);
    expect(canExitTo(relay({ id: 2, exitPolicy: policy("reject *:80", "accept *:1-65535") }), { port: 80 })).toBe(false);
    expect(canExitTo(relay({ id: 3, flags: [RUNNING, VALID, BAD_EXIT], exitPolicy: policy("accept *:80") }), { port: 80 })).toBe(false);
  });
});

describe("weightedChoice", () => {
  it("picks in proportion to bandwidth and never a zero-weight relay when others have weight", () => {
    const relays = [relay({ id: 1, bandwidth: 1000 }), relay({ id: 2, bandwidth: 3000 }), relay({ id: 3, bandwidth: 0 })];
    const random = seeded(42);
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const r = weightedChoice(relays, random)!;
      counts.set(r.nickname, (counts.get(r.nickname) ?? 0) + 1);
    }
    expect(counts.get("relay3")).toBeUndefined();
    expect((counts.get("relay2") ?? 0) / 20_000).toBeGreaterThan(0.72);
    expect((counts.get("relay2") ?? 0) / 20_000).toBeLessThan(0.78);
  });

  it("is uniform when every weight is zero and undefined when empty", () => {
    const relays = [relay({ id: 1, bandwidth: 0 }), relay({ id: 2, bandwidth: 0 })];
    const seen = new Set<string>();
    const random = seeded(7);
    for (let i = 0; i < 100; i++) seen.add(weightedChoice(relays, random)!.nickname);
    expect(seen.size).toBe(2);
    expect(weightedChoice([], random)).toBeUndefined();
    expect(weightedChoice(relays, () => 0.999999999)?.nickname).toBe("relay2");
    // Floating-point leftovers land on the last relay with weight.
    const weighted = [relay({ id: 1, bandwidth: 5 }), relay({ id: 2, bandwidth: 3 }), relay({ id: 3, bandwidth: 0 })];
    expect(weightedChoice(weighted, () => 1 - Number.EPSILON)?.nickname).toBe("relay2");
  });
});
