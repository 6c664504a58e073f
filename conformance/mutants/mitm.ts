/**
 * Man-in-the-middle wrappers that put one fault in front of a REAL implementation (MeowOnion's own
 * processes, reached over the network): the faulty behaviour lives here, outside the shipped code.
 */
import net from "node:net";
import tls from "node:tls";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { SignedConsensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { file_meowonion_v1_consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { file_meowonion_v1_descriptor } from "../../gen/meowonion/v1/descriptor_pb.js";
import { DirectoryService, file_meowonion_v1_directory } from "../../gen/meowonion/v1/directory_pb.js";
import { DOMAIN, ed25519Generate, signDomain } from "../lib/crypto.js";
import { directoryClient } from "../lib/directory-client.js";
import { addReflection, serveConnect } from "../lib/ref/serve.js";
import { SUITE_TLS_CERT, SUITE_TLS_KEY } from "../lib/tls-cert.js";

export interface Front {
  host: string;
  port: number;
  url: string;
  stop(): Promise<void>;
}

function listenFront(server: net.Server, conns: Set<net.Socket>): Promise<Front> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const a = server.address() as net.AddressInfo;
      resolve({
        host: a.address,
        port: a.port,
        url: `http://${a.address}:${a.port}`,
        stop: async () => {
          for (const c of conns) c.destroy();
          await new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}

/**
 * Terminates the client's TLS itself and opens its own TLS session to the relay, copying the bytes
 * unchanged: the relay's identity proof is then over the wrong session's exporter. A client that
 * checks the exporter binding must refuse; one that only checks the signature's key would not.
 */
export function tlsTerminator(upstream: { host: string; port: number }): Promise<Front> {
  const conns = new Set<net.Socket>();
  const server = tls.createServer({ key: SUITE_TLS_KEY, cert: SUITE_TLS_CERT, minVersion: "TLSv1.3" }, (down) => {
    conns.add(down);
    const up = tls.connect({ host: upstream.host, port: upstream.port, rejectUnauthorized: false, minVersion: "TLSv1.3" });
    conns.add(up);
    down.pipe(up).pipe(down);
    const kill = () => {
      down.destroy();
      up.destroy();
    };
    down.on("error", kill).on("close", kill);
    up.on("error", kill).on("close", kill);
  });
  server.on("tlsClientError", () => {});
  return listenFront(server, conns);
}

/**
 * A TCP front for a SOCKS/HTTP CONNECT proxy. "bind-success": a SOCKS5 request with a command other
 * than CONNECT is answered "succeeded" by the front instead of being refused. "corrupt-data": the
 * 3000th byte sent back to the client is flipped (after the proxy's replies, inside tunnel data).
 */
export function socksFront(upstream: { host: string; port: number }, fault: "bind-success" | "corrupt-data"): Promise<Front> {
  const conns = new Set<net.Socket>();
  const server = net.createServer((down) => {
    conns.add(down);
    const up = net.connect(upstream);
    conns.add(up);
    let sentDown = 0;
    let stage = 0; // 0: greeting, 1: request, 2: tunnel
    let buf = Buffer.alloc(0);
    const kill = () => {
      down.destroy();
      up.destroy();
    };
    down.on("error", kill).on("close", kill);
    up.on("error", kill).on("close", kill);
    up.on("data", (d: Buffer) => {
      if (fault === "corrupt-data" && sentDown < 3000 && sentDown + d.length >= 3000) {
        d = Buffer.from(d);
        d[2999 - sentDown] ^= 0x01;
      }
      sentDown += d.length;
      down.write(d);
    });
    up.on("end", () => down.end());
    down.on("end", () => up.end());
    down.on("data", (d: Buffer) => {
      if (fault !== "bind-success" || stage === 2) return void up.write(d);
      buf = Buffer.concat([buf, d]);
      if (stage === 0) {
        if (buf[0] !== 5) {
          stage = 2;
          up.write(buf);
          return;
        }
        if (buf.length < 2 || buf.length < 2 + buf[1]) return;
        const n = 2 + buf[1];
        up.write(buf.subarray(0, n));
        buf = buf.subarray(n);
        stage = 1;
      }
      if (stage === 1 && buf.length >= 4) {
        if (buf[1] !== 1) {
          // The fault: claim success for BIND / UDP ASSOCIATE.
          down.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
          stage = 2;
          buf = Buffer.alloc(0);
          return;
        }
        stage = 2;
        up.write(buf);
        buf = Buffer.alloc(0);
      }
    });
  });
  return listenFront(server, conns);
}

/**
 * A DirectoryService that forwards every call to a real directory, with one fault:
 * "resign-consensus": consensus signatures are replaced by signatures of another key (same
 *   authority_key field), as a directory signing with the wrong key would produce;
 * "accept-replayed-heartbeat": ALREADY_EXISTS from the real directory becomes OK.
 */
export async function directoryFront(upstreamUrl: string, fault: "resign-consensus" | "accept-replayed-heartbeat"): Promise<Front> {
  const up = directoryClient(upstreamUrl);
  const wrong = ed25519Generate();
  const fix = (sc: SignedConsensus | undefined) => {
    if (sc && fault === "resign-consensus") sc.signatures = sc.signatures.map((s) => ({ ...s, signature: signDomain(wrong, DOMAIN.consensus, sc.consensus) }));
    return sc;
  };
  const routes = (router: ConnectRouter) => {
    router.service(DirectoryService, {
      publishDescriptor: (req) => up.publishDescriptor(req),
      heartbeat: async (req) => {
        try {
          return await up.heartbeat(req);
        } catch (e) {
          const ce = ConnectError.from(e);
          if (fault === "accept-replayed-heartbeat" && ce.code === Code.AlreadyExists) return { running: false };
          throw ce;
        }
      },
      getConsensus: async (req) => {
        const r = await up.getConsensus(req);
        fix(r.consensus);
        return r;
      },
      watchConsensus: async function* (req, ctx) {
        for await (const r of up.watchConsensus(req, { signal: ctx.signal })) {
          fix(r.consensus);
          yield r;
        }
      },
      getDescriptor: (req) => up.getDescriptor(req),
      getVote: (req) => up.getVote(req),
      getConsensusSignature: (req) => up.getConsensusSignature(req),
    });
    addReflection(router, [file_meowonion_v1_directory, file_meowonion_v1_consensus, file_meowonion_v1_descriptor], [DirectoryService.typeName]);
  };
  const served = await serveConnect(routes);
  const u = new URL(served.url);
  return { host: u.hostname, port: Number(u.port), url: served.url, stop: served.stop };
}
