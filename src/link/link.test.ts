import net from "node:net";
import tls from "node:tls";
import { once } from "node:events";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Frame, FrameSchema } from "../../gen/meowonion/v1/link_pb.js";
import { OnionError } from "../onion/errors.js";
import { RELAY_BODY_LEN } from "../onion/frame.js";
import { generateEd25519KeyPair } from "../onion/signing.js";
import { type Link, LinkError, type LinkListener, connectLink, listenLinks } from "./link.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listener(identity = generateEd25519KeyPair()) {
  const links: Link[] = [];
  const waiters: ((link: Link) => void)[] = [];
  const server: LinkListener = await listenLinks({
    host: "127.0.0.1",
    port: 0,
    identity,
    onLink: (link) => {
      links.push(link);
      waiters.shift()?.(link);
    },
  });
  cleanups.push(() => {
    for (const link of links) link.close();
    return server.close();
  });
  const nextLink = () => new Promise<Link>((resolve) => (links.length > waiters.length ? resolve(links[links.length - 1]) : waiters.push(resolve)));
  return { server, identity, links, nextLink };
}

function track(link: Link): Link {
  cleanups.push(() => link.close());
  return link;
}

/** The first frame of the link's next read. */
function nextFrame(link: Link): Promise<Frame> {
  return new Promise((resolve) => {
    link.onFrames = (frames) => resolve(frames[0]);
  });
}

describe("links", () => {
  it("connects, proves the responder's identity and carries frames both ways", async () => {
    const { server, identity, nextLink } = await listener();
    const client = track(await connectLink({ host: "127.0.0.1", port: server.port, expectedIdentity: identity.publicKey }));
    expect(client.peerIdentity).toEqual(Uint8Array.from(identity.publicKey));
    const relaySide = await nextLink();
    expect(relaySide.peerIdentity).toBeUndefined();

    const body = new Uint8Array(RELAY_BODY_LEN).fill(9);
    const received = nextFrame(relaySide);
    client.sendRelay(0x80000001, body);
    const frame = await received;
    expect(frame.circuitId).toBe(0x80000001);
    expect(frame.command.case).toBe("relay");
    expect(Buffer.from(frame.command.value as Uint8Array).equals(body)).toBe(true);

    const back = nextFrame(client);
    relaySide.send(create(FrameSchema, { circuitId: 0x80000001, command: { case: "destroy", value: { reason: 9 } } }));
    expect((await back).command.case).toBe("destroy");
  });

  it("refuses a responder that proves another identity", async () => {
    const { server } = await listener();
    const other = generateEd25519KeyPair();
    const attempt = connectLink({ host: "127.0.0.1", port: server.port, expectedIdentity: other.publicKey });
    await expect(attempt).rejects.toMatchObject({ reason: "identity-mismatch" });
  });

  it("proves the initiator's identity when it is a relay", async () => {
    const { server, identity, nextLink } = await listener();
    const me = generateEd25519KeyPair();
    track(await connectLink({ host: "127.0.0.1", port: server.port, expectedIdentity: identity.publicKey, identity: me }));
    expect((await nextLink()).peerIdentity).toEqual(Uint8Array.from(me.publicKey));
  });

  it("reports a refused connection as connect-failed", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await expect(connectLink({ host: "127.0.0.1", port, expectedIdentity: new Uint8Array(32) })).rejects.toBeInstanceOf(LinkError);
  });

  it("closes a link that sends garbage, and other links keep working", async () => {
    const { server, identity, nextLink } = await listener();
    const good = track(await connectLink({ host: "127.0.0.1", port: server.port, expectedIdentity: identity.publicKey }));
    const goodRelaySide = await nextLink();
    const bad = track(await connectLink({ host: "127.0.0.1", port: server.port, expectedIdentity: identity.publicKey }));
    const badRelaySide = await nextLink();
    const closed = once(badRelaySide, "close");
    (bad as unknown as { socket: tls.TLSSocket }).socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    const [error] = (await closed) as [Error];
    // A length prefix beyond the frame limit: the link says why it closed.
    expect(error).toBeInstanceOf(OnionError);
    expect(error).toMatchObject({ kind: "protocol-violation", reason: "frame-too-large" });
    const received = nextFrame(goodRelaySide);
    good.sendRelay(0x80000002, new Uint8Array(RELAY_BODY_LEN));
    expect((await received).circuitId).toBe(0x80000002);
  });

  it("writes a few frames on an idle link in the same turn, and coalesces a burst until the check phase", async () => {
    const { server, identity } = await listener();
    const client = track(await connectLink({ host: "127.0.0.1", port: server.port, expectedIdentity: identity.publicKey }));
    const writes = vi.spyOn(tls.TLSSocket.prototype, "write");
    cleanups.push(() => writes.mockRestore());
    const body = new Uint8Array(RELAY_BODY_LEN);

    client.sendRelay(0x80000001, body);
    client.sendRelay(0x80000001, body);
    expect(writes).not.toHaveBeenCalled();
    await Promise.resolve();
    expect(writes).toHaveBeenCalledTimes(1);

    writes.mockClear();
    for (let i = 0; i < 20; i++) client.sendRelay(0x80000001, body);
    await Promise.resolve();
    expect(writes).not.toHaveBeenCalled();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveBeenCalledTimes(1);
  });

  it("allocates circuit ids by the top-bit rule", async () => {
    const { server, identity, nextLink } = await listener();
    const client = track(await connectLink({ host: "127.0.0.1", port: server.port, expectedIdentity: identity.publicKey }));
    const relaySide = await nextLink();
    for (let i = 0; i < 100; i++) {
      const mine = client.allocateCircuitId(() => false);
      expect(mine >>> 31).toBe(1);
      expect(relaySide.isPeerAllocated(mine)).toBe(true);
      const theirs = relaySide.allocateCircuitId(() => false);
      expect(theirs >>> 31).toBe(0);
      expect(theirs).not.toBe(0);
      expect(client.isPeerAllocated(theirs)).toBe(true);
    }
    expect(() => client.allocateCircuitId(() => true)).toThrow(LinkError);
  });
});
