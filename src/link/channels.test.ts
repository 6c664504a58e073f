/**
 * Which link an extending relay uses (relay.proto Extend2, step 2): an open link to the named
 * identity only if its remote address is one the EXTEND2 names or the consensus lists for that
 * relay (Tor's canonical-connection rule); otherwise a new link to the named address.
 */
import { afterEach, describe, expect, it } from "vitest";
import { generateEd25519KeyPair, type Ed25519KeyPair } from "../onion/signing.js";
import { type Channel, ChannelManager } from "./channels.js";
import { canonicalIp } from "./address.js";
import { listenLinks } from "./link.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A relay's channel manager, listening on every IPv4 address (so 127.0.0.2 reaches it too). */
async function relayNode(identity: Ed25519KeyPair = generateEd25519KeyPair()) {
  const accepted: Channel<unknown>[] = [];
  const waiters: (() => void)[] = [];
  const manager = new ChannelManager<unknown>({
    identity,
    idleTimeoutMs: 60_000,
    connectTimeoutMs: 5_000,
    onChannel: () => undefined,
    onChannelClosed: () => undefined,
  });
  const listener = await listenLinks({
    host: "0.0.0.0",
    port: 0,
    identity,
    onLink: (link) => {
      const channel = manager.accept(link);
      if (channel !== undefined) accepted.push(channel);
      waiters.splice(0).forEach((w) => w());
    },
  });
  cleanups.push(async () => {
    manager.close();
    await listener.close();
  });
  const acceptedCount = async (n: number) => {
    while (accepted.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { identity, manager, port: listener.port, accepted, acceptedCount };
}

describe("EXTEND2 link reuse (canonical links)", () => {
  it("reuses a link only for the address it goes to, or one the consensus lists", async () => {
    const a = await relayNode();
    const b = await relayNode();
    const first = await a.manager.channelTo(b.identity.publicKey, "127.0.0.1", b.port);
    expect(first.link.remoteAddress).toBe("127.0.0.1");
    expect(await a.manager.channelTo(b.identity.publicKey, "127.0.0.1", b.port)).toBe(first);
    expect(a.manager.size).toBe(1);

    // Another address for the same identity: a new link to that address, not the open one.
    const second = await a.manager.channelTo(b.identity.publicKey, "127.0.0.2", b.port);
    expect(second).not.toBe(first);
    expect(second.link.remoteAddress).toBe("127.0.0.2");
    expect(a.manager.size).toBe(2);
    await b.acceptedCount(2);

    // An address nobody has a link to, but the consensus lists 127.0.0.1: the first link.
    expect(await a.manager.channelTo(b.identity.publicKey, "127.0.0.3", b.port, ["127.0.0.1"])).toBe(first);
    expect(a.manager.size).toBe(2);

    // Each link stays canonical for its own address once the other closes.
    first.link.close();
    expect(await a.manager.channelTo(b.identity.publicKey, "127.0.0.2", b.port)).toBe(second);
    const third = await a.manager.channelTo(b.identity.publicKey, "127.0.0.1", b.port);
    expect(third).not.toBe(first);
    expect(third.link.isClosed).toBe(false);
  });

  it("reuses a link the other relay opened only if it came from the address named or listed", async () => {
    const a = await relayNode();
    const b = await relayNode();
    // B opens a link to A from 127.0.0.1 (proving its identity), so A has an inbound link from B.
    await b.manager.channelTo(a.identity.publicKey, "127.0.0.1", a.port);
    await a.acceptedCount(1);
    const inbound = a.accepted[0];
    expect(inbound.link.remoteAddress).toBe("127.0.0.1");

    expect(await a.manager.channelTo(b.identity.publicKey, "127.0.0.1", b.port)).toBe(inbound);
    expect(a.manager.size).toBe(1);
    const other = await a.manager.channelTo(b.identity.publicKey, "127.0.0.2", b.port);
    expect(other).not.toBe(inbound);
    expect(a.manager.size).toBe(2);
  });

  it("compares addresses in one form (IPv4-mapped IPv6 as IPv4, RFC 5952)", () => {
    expect(canonicalIp("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(canonicalIp("::FFFF:7f00:2")).toBe("127.0.0.2");
    expect(canonicalIp("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(canonicalIp("10.1.2.3")).toBe("10.1.2.3");
  });
});
