import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ConsensusRelaySchema, RelayFlag, VoteSchema } from "../../gen/meowonion/v1/consensus_pb.js";
import { ExitAction, ExitPolicySchema, ExitRuleSchema, RelayDescriptorSchema } from "../../gen/meowonion/v1/descriptor_pb.js";
import { formatDuration, formatRate } from "./format.js";
import { History, HISTORY_MAX_SAMPLES, HISTORY_WINDOW_MS } from "./history.js";
import { exitRuleText, exitSummary, flagName, relayRow, voteEntries } from "./model.js";

const rule = (action: ExitAction, addressPrefix: string, portMin = 1, portMax = 65535) => create(ExitRuleSchema, { action, addressPrefix, portMin, portMax });
const policy = (...rules: ReturnType<typeof rule>[]) => create(ExitPolicySchema, { rules });

describe("status page model", () => {
  it("writes exit rules in their text form, IPv6 in brackets", () => {
    expect(exitRuleText(rule(ExitAction.ACCEPT, "127.0.0.0/8"))).toBe("accept 127.0.0.0/8:*");
    expect(exitRuleText(rule(ExitAction.REJECT, "2001:db8::/32", 25, 25))).toBe("reject [2001:db8::]/32:25");
    expect(exitRuleText(rule(ExitAction.ACCEPT, "::1", 80, 443))).toBe("accept [::1]:80-443");
  });

  it("summarises a policy by what it accepts", () => {
    expect(exitSummary(undefined)).toBe("no exit");
    expect(exitSummary(policy(rule(ExitAction.REJECT, "*")))).toBe("no exit");
    expect(exitSummary(policy(rule(ExitAction.ACCEPT, "*", 80, 80), rule(ExitAction.ACCEPT, "*", 443, 443), rule(ExitAction.ACCEPT, "10.0.0.0/8"), rule(ExitAction.REJECT, "*")))).toBe(
      "accept *:80, *:443 +1 more",
    );
  });

  it("names flags as Tor does", () => {
    expect(flagName(RelayFlag.RUNNING)).toBe("Running");
    expect(flagName(RelayFlag.BAD_EXIT)).toBe("BadExit");
    expect(flagName(RelayFlag.HSDIR)).toBe("HSDir");
    expect(flagName(99 as RelayFlag)).toBe("Flag99");
  });

  it("takes bandwidth and uptime from this authority's vote, observed only when measured", () => {
    const identityKey = new Uint8Array(32).fill(7);
    const descriptor = (observed: bigint) =>
      toBinary(RelayDescriptorSchema, create(RelayDescriptorSchema, { identityKey, bandwidth: { averageBytesPerSecond: 5_000n, observedBytesPerSecond: observed } }));
    const vote = (observed: bigint) =>
      create(VoteSchema, {
        relays: [
          { descriptor: { descriptor: descriptor(observed) }, running: true, uptimeSeconds: 600n },
          { descriptor: { descriptor: new Uint8Array([0xff]) }, running: true },
        ],
      });
    const relay = create(ConsensusRelaySchema, { nickname: "Tabby", identityKey, flags: [RelayFlag.RUNNING, RelayFlag.VALID], bandwidthWeight: 5_000n });
    const id = "07".repeat(32);

    const unmeasured = voteEntries(vote(0n));
    expect([...unmeasured.keys()]).toEqual([id]);
    const row = relayRow(relay, "fp", unmeasured.get(id));
    expect(row).toMatchObject({ id, nickname: "Tabby", flags: ["Running", "Valid"], advertised: 5_000n, observed: undefined, uptimeSeconds: 600 });
    expect(relayRow(relay, "fp", voteEntries(vote(4_000n)).get(id)).observed).toBe(4_000n);
    expect(relayRow(relay, "fp", undefined)).toMatchObject({ advertised: undefined, uptimeSeconds: undefined });
  });

  it("formats rates in decimal units and durations to two units", () => {
    expect(formatRate(undefined)).toBe("—");
    expect(formatRate(999n)).toBe("999 B/s");
    expect(formatRate(104_857_600n)).toBe("105 MB/s");
    expect(formatDuration(9)).toBe("9 s");
    expect(formatDuration(7_500)).toBe("2 h 05 min");
    expect(formatDuration(3 * 86_400 + 4 * 3_600)).toBe("3 d 4 h");
  });
});

describe("status page history", () => {
  it("keeps one sample per period, the newest consensus of it", () => {
    const history = new History();
    history.record({ at: 1_000, relays: 3, bandwidth: 10 });
    history.record({ at: 2_000, relays: 4, bandwidth: 20 });
    history.record({ at: 2_000, relays: 5, bandwidth: 30 });
    history.record({ at: 1_500, relays: 9, bandwidth: 90 });
    expect(history.samples()).toEqual([
      { at: 1_000, relays: 3, bandwidth: 10 },
      { at: 2_000, relays: 5, bandwidth: 30 },
    ]);
  });

  it("forgets samples older than its window and beyond its count", () => {
    const history = new History();
    history.record({ at: 0, relays: 1, bandwidth: 1 });
    history.record({ at: HISTORY_WINDOW_MS + 1, relays: 2, bandwidth: 2 });
    expect(history.samples().map((s) => s.at)).toEqual([HISTORY_WINDOW_MS + 1]);
    for (let i = 2; i <= HISTORY_MAX_SAMPLES + 5; i++) history.record({ at: HISTORY_WINDOW_MS + i, relays: i, bandwidth: i });
    expect(history.samples()).toHaveLength(HISTORY_MAX_SAMPLES);
    expect(history.samples().at(-1)!.at).toBe(HISTORY_WINDOW_MS + HISTORY_MAX_SAMPLES + 5);
  });
});
