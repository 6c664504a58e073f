/** Test fixtures: consensus relays and exit policies built from a few readable fields. */
import { create } from "@bufbuild/protobuf";
import { type ConsensusRelay, ConsensusRelaySchema, RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import { ExitAction, type ExitPolicy, ExitPolicySchema, ExitRuleSchema } from "../../gen/meowonion/v1/descriptor_pb.js";

/** "accept *:80-443" style rules (one per string). */
export function policy(...rules: string[]): ExitPolicy {
  return create(ExitPolicySchema, {
    rules: rules.map((text) => {
      const m = /^(accept|reject) (\S+):(\d+)(?:-(\d+))?$/.exec(text);
      if (!m) throw new Error(`bad rule ${text}`);
      return create(ExitRuleSchema, {
        action: m[1] === "accept" ? ExitAction.ACCEPT : ExitAction.REJECT,
        addressPrefix: m[2],
        portMin: Number(m[3]),
        portMax: Number(m[4] ?? m[3]),
      });
    }),
  });
}

export interface FixtureRelay {
  id: number;
  address?: string;
  ipv6?: string;
  flags?: RelayFlag[];
  bandwidth?: number;
  exitPolicy?: ExitPolicy;
  family?: number[];
}

export function keyOf(id: number): Uint8Array {
  const key = new Uint8Array(32);
  key[0] = id >> 8;
  key[1] = id & 0xff;
  return key;
}

export function relay(spec: FixtureRelay): ConsensusRelay {
  return create(ConsensusRelaySchema, {
    nickname: `relay${spec.id}`,
    identityKey: keyOf(spec.id),
    ntorOnionKey: new Uint8Array(32).fill(spec.id & 0xff),
    ipv4Address: spec.address ?? `10.${spec.id}.0.1`,
    ipv6Address: spec.ipv6 ?? "",
    orPort: 9000 + spec.id,
    flags: spec.flags ?? [RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.FAST],
    bandwidthWeight: BigInt(spec.bandwidth ?? 1000),
    exitPolicy: spec.exitPolicy ?? policy(),
    family: (spec.family ?? []).map(keyOf),
  });
}
