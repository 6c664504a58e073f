/**
 * One process of the Node.js TLS floor (./floor.ts): what Node.js itself costs to carry a
 * stream through the same shape of network as ours (a SOCKS entry, two relays, an exit, three
 * TLS 1.3 links with our links' credentials, TCP_NODELAY everywhere) when the processes only
 * forward bytes: no cells, no onion layers, no digests, no flow control.
 *
 *   node --import tsx floor-hop.ts relay NEXT_PORT | exit
 *   node --import tsx floor-hop.ts entry NEXT_PORT PATH     (PATH: ID:KEY,ID:KEY,ID:KEY in hex)
 *
 * Each client stream gets its own chain of TLS connections. The entry speaks SOCKS5 (no auth
 * or username/password, CONNECT only) and sends "host port\n" down the chain; the exit opens
 * the TCP connection and answers one byte (0 connected, 1 failed) before the bytes flow.
 *
 * Circuit builds: the same handshakes as ours over links kept open, and nothing else. A
 * connection to the entry that starts with "B" asks for builds, one per line; the entry answers
 * each with its time in ms. A build is three ntor handshakes (our ntor module: node:crypto,
 * spare ephemerals, EXP(B, x) while the onionskin travels), the first with relay 1, the next
 * relayed by relay 1, the last by both relays, over one chain of TLS links that starts with
 * BUILD_LINK. On it a request is 1 byte of hops left and an onionskin; the hop it is for
 * answers the 64-byte reply, then derives the keys. No frames, circuit ids, EXTEND messages or
 * relay crypto: what any Node.js implementation of ntor over TLS would pay.
 *
 * Prints "listening PORT ID KEY" (its ntor relay ID and onion key, hex) once ready. Stops on
 * SIGTERM or when its stdin closes.
 */
import { connect as tcpConnect, createServer, type Socket } from "node:net";
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from "node:tls";
import { randomBytes } from "node:crypto";
import { tlsCredentials } from "../../src/link/tls-credentials.js";
import {
  EphemeralKeys,
  generateX25519KeyPair,
  NTOR_ONIONSKIN_LEN,
  NTOR_REPLY_LEN,
  ntorClientFinish,
  ntorClientPrecompute,
  ntorClientStart,
  ntorServerRespond,
} from "../../src/onion/ntor.js";

const [role, nextPortArg, pathArg] = process.argv.slice(2);
const nextPort = Number(nextPortArg);
const HOST = "127.0.0.1";
/** First byte of a link that carries builds (a stream's first byte is a host name's). */
const BUILD_LINK = 0;
/** First byte of a connection to the entry that asks for builds (SOCKS5 starts with 5). */
const BUILD_REQUEST = 0x42;
const BUILD_REQUEST_LEN = 1 + NTOR_ONIONSKIN_LEN;
const relayId = randomBytes(20);
const onionKey = generateX25519KeyPair();
const ephemerals = new EphemeralKeys();

/** Both ways, and each side's failure or end takes the other down. */
function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const down = (): void => {
    a.destroy();
    b.destroy();
  };
  a.once("error", down).once("close", down);
  b.once("error", down).once("close", down);
}

function nextHop(): TLSSocket {
  const s = tlsConnect({ host: HOST, port: nextPort, rejectUnauthorized: false, minVersion: "TLSv1.3" });
  s.setNoDelay(true);
  return s;
}

interface Message {
  message: Buffer;
  /** Bytes read past the message. */
  rest: Buffer;
}

/**
 * Read until `want(buffered)` says how many bytes form the message (undefined while
 * incomplete; it throws if they cannot form one), starting with `carry` (the rest of the
 * previous message). Leaves `s` paused.
 */
function readMessage(s: Socket, want: (buffered: Buffer) => number | undefined, carry: Buffer = Buffer.alloc(0)): Promise<Message> {
  return new Promise((resolve, reject) => {
    let buffered = carry;
    const done = (): boolean => {
      let n: number | undefined;
      try {
        n = want(buffered);
      } catch (error) {
        n = -1;
        reject(error);
      }
      if (n === undefined) return false;
      s.off("data", onData).off("error", reject).off("end", onEnd);
      s.pause();
      if (n >= 0) resolve({ message: buffered.subarray(0, n), rest: buffered.subarray(n) });
      return true;
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      done();
    };
    const onEnd = (): void => reject(new Error("closed mid-message"));
    s.on("data", onData).once("error", reject).once("end", onEnd);
    if (!done()) s.resume();
  });
}

/** The SOCKS5 CONNECT request's length once complete (RFC 1928 §4). */
function connectRequestLength(b: Buffer): number | undefined {
  if (b.length < 5) return undefined;
  const n = b[3] === 1 ? 10 : b[3] === 4 ? 22 : b[3] === 3 ? 7 + b[4]! : -1;
  if (n < 0) throw new Error(`SOCKS address type ${b[3]}`);
  return b.length >= n ? n : undefined;
}

function connectTarget(req: Buffer): string {
  const port = req.readUInt16BE(req.length - 2);
  if (req[3] === 1) return `${[...req.subarray(4, 8)].join(".")} ${port}`;
  if (req[3] === 3) return `${req.subarray(5, 5 + req[4]!).toString("utf8")} ${port}`;
  const groups: string[] = [];
  for (let i = 4; i < 20; i += 2) groups.push(req.readUInt16BE(i).toString(16));
  return `${groups.join(":")} ${port}`;
}

/** The first bytes of a connection, without taking them off: `rest` holds them. */
const firstBytes = (s: Socket): Promise<Message> => readMessage(s, (b) => (b.length >= 1 ? 0 : undefined));

async function socksEntry(client: Socket, carry: Buffer): Promise<void> {
  let chain: TLSSocket | undefined;
  // Until splice() takes over: a peer failing between two messages must not crash the hop.
  client.on("error", () => chain?.destroy());
  const greeting = await readMessage(client, (b) => (b.length >= 2 && b.length >= 2 + b[1]! ? 2 + b[1]! : undefined), carry);
  const methods = [...greeting.message.subarray(2)];
  let rest = greeting.rest;
  if (methods.includes(2)) {
    client.write(Buffer.from([5, 2]));
    const auth = await readMessage(client, (b) => {
      if (b.length < 2 || b.length < 3 + b[1]!) return undefined;
      const n = 3 + b[1]! + b[2 + b[1]!]!;
      return b.length >= n ? n : undefined;
    }, rest);
    rest = auth.rest;
    client.write(Buffer.from([1, 0]));
  } else {
    client.write(Buffer.from([5, 0]));
  }
  const request = await readMessage(client, connectRequestLength, rest);
  const reply = (code: number): boolean => client.write(Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
  if (request.message[1] !== 1) {
    reply(7);
    client.end();
    return;
  }
  chain = nextHop();
  const toClient = client;
  chain.on("error", () => toClient.destroy());
  chain.write(`${connectTarget(request.message)}\n`);
  const status = await readMessage(chain, (b) => (b.length >= 1 ? 1 : undefined));
  if (status.message[0] !== 0) {
    reply(5);
    client.end();
    chain.destroy();
    return;
  }
  reply(0);
  if (request.rest.length > 0) chain.write(request.rest);
  if (status.rest.length > 0) client.write(status.rest);
  splice(client, chain);
}

async function exitHop(link: TLSSocket, carry: Buffer): Promise<void> {
  const header = await readMessage(link, (b) => {
    const nl = b.indexOf(10);
    return nl < 0 ? undefined : nl + 1;
  }, carry);
  const [host, port] = header.message.toString("utf8").trim().split(" ");
  const dst = tcpConnect({ host: host!, port: Number(port) });
  dst.setNoDelay(true);
  link.on("error", () => dst.destroy());
  dst.once("error", () => {
    link.end(Buffer.from([1]));
  });
  dst.once("connect", () => {
    dst.removeAllListeners("error");
    link.write(Buffer.from([0]));
    if (header.rest.length > 0) dst.write(header.rest);
    splice(link, dst);
  });
}

function relayHop(link: TLSSocket, carry: Buffer): void {
  const next = nextHop();
  if (carry.length > 0) next.write(carry);
  splice(link, next);
}

/**
 * Calls `onMessage` for every `size` bytes `s` delivers, starting with `carry`. The handler
 * must be done with a message before it returns (the bytes may be reused).
 */
function fixedMessages(s: Socket, size: number, carry: Buffer, onMessage: (message: Buffer) => void): void {
  let buffered = carry;
  const drain = (): void => {
    let at = 0;
    while (buffered.length - at >= size) {
      onMessage(buffered.subarray(at, at + size));
      at += size;
    }
    buffered = buffered.subarray(at);
  };
  s.on("data", (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    drain();
  });
  drain();
  s.resume();
}

/**
 * A relay's or the exit's end of a build link: answers the requests meant for it, passes the
 * others on over its own build link to the next hop (opened with the first), and their
 * replies back. One request at a time per link (the entry runs one build at a time).
 */
function buildHop(link: TLSSocket, carry: Buffer): void {
  let onward: TLSSocket | undefined;
  const toNext = (): TLSSocket => {
    if (onward === undefined) {
      const next = nextHop();
      onward = next;
      next.on("error", () => link.destroy());
      next.write(Buffer.from([BUILD_LINK]));
      fixedMessages(next, NTOR_REPLY_LEN, Buffer.alloc(0), (reply) => link.write(Buffer.from(reply)));
      link.once("close", () => next.destroy());
    }
    return onward;
  };
  fixedMessages(link, BUILD_REQUEST_LEN, carry, (request) => {
    const hopsLeft = request[0]!;
    if (hopsLeft > 1 && role === "exit") {
      drop(link)(new Error("a build asked to go past the exit"));
    } else if (hopsLeft > 1) {
      toNext().write(Buffer.concat([Buffer.from([hopsLeft - 1]), request.subarray(1)]));
    } else {
      const response = ntorServerRespond(request.subarray(1), relayId, [onionKey], ephemerals);
      link.write(response.reply);
      // As our relays do: the keys are derived (on first read) once the reply is on its way.
      void response.keyMaterial;
    }
  });
}

/** The relays of a build, first hop first, from "ID:KEY,ID:KEY,…" (hex). */
function parsePath(arg: string | undefined): { relayId: Buffer; onionKey: Buffer }[] {
  const path = (arg ?? "").split(",").filter((x) => x !== "").map((hop) => {
    const [id, key] = hop.split(":");
    return { relayId: Buffer.from(id ?? "", "hex"), onionKey: Buffer.from(key ?? "", "hex") };
  });
  if (path.length === 0 || path.some((h) => h.relayId.length !== 20 || h.onionKey.length !== 32)) throw new Error("entry: PATH must be ID:KEY,… in hex");
  return path;
}

/**
 * The entry's builds: one chain of build links, opened with the first build; each line a
 * client sends starts one build, answered with its time in ms (or "error …").
 */
function buildClient(path: { relayId: Buffer; onionKey: Buffer }[]): (client: Socket, carry: Buffer) => void {
  let link: TLSSocket | undefined;
  let waiting: { resolve: (reply: Buffer) => void; reject: (e: Error) => void } | undefined;
  const settle = (): typeof waiting => {
    const w = waiting;
    waiting = undefined;
    return w;
  };
  const chain = (): TLSSocket => {
    if (link === undefined || link.destroyed) {
      const next = nextHop();
      link = next;
      next.write(Buffer.from([BUILD_LINK]));
      fixedMessages(next, NTOR_REPLY_LEN, Buffer.alloc(0), (reply) => settle()?.resolve(Buffer.from(reply)));
      next.on("error", () => undefined).on("close", () => settle()?.reject(new Error("build link closed")));
    }
    return link;
  };
  const build = async (): Promise<number> => {
    const started = performance.now();
    for (let hop = 0; hop < path.length; hop++) {
      const { state, onionskin } = ntorClientStart(path[hop]!.relayId, path[hop]!.onionKey, ephemerals);
      const link = chain();
      const replied = new Promise<Buffer>((resolve, reject) => {
        waiting = { resolve, reject };
      });
      link.write(Buffer.concat([Buffer.from([hop + 1]), onionskin]));
      ntorClientPrecompute(state);
      ntorClientFinish(state, await replied);
    }
    return performance.now() - started;
  };
  return (client, carry) => {
    let queue = Promise.resolve();
    let lines = carry.subarray(1).toString("latin1");
    const onText = (text: string): void => {
      lines += text;
      let nl: number;
      while ((nl = lines.indexOf("\n")) >= 0) {
        lines = lines.slice(nl + 1);
        queue = queue.then(() => build().then((ms) => void client.write(`${ms}\n`), (e: unknown) => void client.write(`error ${(e as Error).message}\n`)));
      }
    };
    client.on("data", (chunk: Buffer) => onText(chunk.toString("latin1")));
    client.on("error", () => undefined);
    onText("");
    client.resume();
  };
}

const drop = (s: Socket) => (e: unknown): void => {
  process.stderr.write(`floor ${role}: ${e instanceof Error ? e.message : String(e)}\n`);
  s.destroy();
};

async function main(): Promise<void> {
  if (role !== "exit" && !(nextPort > 0)) throw new Error("usage: floor-hop.ts relay NEXT_PORT | exit | entry NEXT_PORT PATH");
  const builds = role === "entry" ? buildClient(parsePath(pathArg)) : undefined;
  const server =
    role === "entry"
      ? createServer((s) => {
          s.setNoDelay(true);
          void firstBytes(s)
            .then(({ rest }) => (rest[0] === BUILD_REQUEST ? builds!(s, rest) : socksEntry(s, rest)))
            .catch(drop(s));
        })
      : createTlsServer({ ...(await tlsCredentials()), minVersion: "TLSv1.3" }, (s) => {
          s.setNoDelay(true);
          void firstBytes(s)
            .then(({ rest }) => {
              if (rest[0] === BUILD_LINK) buildHop(s, rest.subarray(1));
              else if (role === "exit") return exitHop(s, rest);
              else relayHop(s, rest);
            })
            .catch(drop(s));
        });
  await ephemerals.whenFull();
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.stdin.once("end", stop).once("close", stop).resume();
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`listening ${port} ${relayId.toString("hex")} ${Buffer.from(onionKey.publicKey).toString("hex")}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`floor ${role}: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
