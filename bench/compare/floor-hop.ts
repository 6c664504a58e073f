/**
 * One process of the Node.js TLS floor (./floor.ts): what Node.js itself costs to carry a
 * stream through the same shape of network as ours (a SOCKS entry, two relays, an exit, three
 * TLS 1.3 links with our links' credentials, TCP_NODELAY everywhere) when the processes only
 * forward bytes: no cells, no onion layers, no digests, no flow control.
 *
 *   node --import tsx floor-hop.ts entry|relay NEXT_PORT   |   node --import tsx floor-hop.ts exit
 *
 * Each client stream gets its own chain of TLS connections. The entry speaks SOCKS5 (no auth
 * or username/password, CONNECT only) and sends "host port\n" down the chain; the exit opens
 * the TCP connection and answers one byte (0 connected, 1 failed) before the bytes flow.
 * Prints "listening PORT" once ready. Stops on SIGTERM or when its stdin closes.
 */
import { connect as tcpConnect, createServer, type Socket } from "node:net";
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from "node:tls";
import { tlsCredentials } from "../../src/link/tls-credentials.js";

const [role, nextPortArg] = process.argv.slice(2);
const nextPort = Number(nextPortArg);
const HOST = "127.0.0.1";

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

async function socksEntry(client: Socket): Promise<void> {
  client.setNoDelay(true);
  let chain: TLSSocket | undefined;
  // Until splice() takes over: a peer failing between two messages must not crash the hop.
  client.on("error", () => chain?.destroy());
  const greeting = await readMessage(client, (b) => (b.length >= 2 && b.length >= 2 + b[1]! ? 2 + b[1]! : undefined));
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

async function exitHop(link: TLSSocket): Promise<void> {
  const header = await readMessage(link, (b) => {
    const nl = b.indexOf(10);
    return nl < 0 ? undefined : nl + 1;
  });
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

function relayHop(link: TLSSocket): void {
  link.setNoDelay(true);
  splice(link, nextHop());
}

const drop = (s: Socket) => (e: unknown): void => {
  process.stderr.write(`floor ${role}: ${e instanceof Error ? e.message : String(e)}\n`);
  s.destroy();
};

async function main(): Promise<void> {
  if (role !== "exit" && !(nextPort > 0)) throw new Error("usage: floor-hop.ts entry|relay NEXT_PORT | exit");
  const server =
    role === "entry"
      ? createServer((s) => void socksEntry(s).catch(drop(s)))
      : createTlsServer({ ...(await tlsCredentials()), minVersion: "TLSv1.3" }, (s) => {
          s.setNoDelay(true);
          if (role === "exit") void exitHop(s).catch(drop(s));
          else relayHop(s);
        });
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.stdin.once("end", stop).once("close", stop).resume();
  const address = server.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`floor ${role}: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
