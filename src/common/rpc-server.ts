/**
 * One TCP port serving Connect, gRPC and gRPC-Web over HTTP/2 cleartext (prior knowledge)
 * and HTTP/1.1, plus gRPC server reflection (grpc.reflection.v1) so that `buf curl` and
 * `grpcurl` need no schema. Used by the directory authority and the proxy's control service.
 *
 * Node's plaintext http2 server does not fall back to HTTP/1.1, so connections are accepted
 * by a plain net.Server, sniffed for the HTTP/2 client preface, and handed to the http2 or the
 * http server. close() ends every session and stream (long-lived WatchConsensus streams
 * included) so shutting down never hangs.
 */
import { setMaxListeners } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { toBinary, type DescFile, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  Code,
  createContextKey,
  createContextValues,
  type ConnectRouter,
  type Interceptor,
} from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import {
  ServerReflection,
  file_grpc_reflection_v1_reflection,
  type ServerReflectionRequest,
  type ServerReflectionResponseSchema,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { componentLogger, type Logger } from "./log.js";

/** The client's IP address, readable by handlers and interceptors (`ctx.values.get(...)`). */
export const remoteAddressKey = createContextKey<string>("", { description: "remote address" });

export interface RpcServerOptions {
  host: string;
  /** 0 picks a free port; the bound one is in the result. */
  port: number;
  register: (router: ConnectRouter) => void;
  /** Files whose services and types reflection describes (dependencies are followed). */
  files: DescFile[];
  /** Largest request message accepted (RESOURCE_EXHAUSTED above). Default 64 KiB. */
  readMaxBytes?: number;
  interceptors?: Interceptor[];
  /** Concurrent TCP connections allowed from one IP address. Default 256. */
  maxConnectionsPerAddress?: number;
  /**
   * Answers requests whose path names no RPC (e.g. the directory's status page); without it
   * they get 404. RPC routes always win, on HTTP/1.1 and HTTP/2 alike.
   */
  fallback?: ConnectNodeAdapterOptions["fallback"];
  log?: Logger;
}

export interface RpcServer {
  host: string;
  port: number;
  /** http://HOST:PORT (IPv6 hosts in brackets). */
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_READ_MAX_BYTES = 64 * 1024;
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
// A client that has not sent its first bytes by then is not a client we want to wait for.
const SNIFF_TIMEOUT_MS = 10_000;
// Idle sockets are dropped; a WatchConsensus stream gets a new message at least every voting
// interval, and clients reconnect anyway.
const IDLE_TIMEOUT_MS = 10 * 60_000;
// How long close() lets in-flight unary calls finish before it destroys their sockets.
const CLOSE_GRACE_MS = 2_000;
const MAX_CONCURRENT_STREAMS = 256;
// Connections the kernel queues for accept() (capped by net.core.somaxconn, 4096 on Linux).
// Node's default, 511, overflows when a thousand relays connect at once while the event loop
// is busy: the kernel then drops their SYNs, and TCP retries them after 1, 3, 7, 15 … s, so
// publications time out although the authority has capacity to spare.
const LISTEN_BACKLOG = 4096;

export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const log = options.log ?? componentLogger("rpc-server");
  const shutdown = new AbortController();
  // Every in-flight call links its own signal to this one: hundreds of listeners are normal.
  setMaxListeners(0, shutdown.signal);
  const reflection = new ReflectionIndex([...options.files, file_grpc_reflection_v1_reflection]);
  const handler = connectNodeAdapter({
    routes: (router) => {
      options.register(router);
      router.service(ServerReflection, {
        serverReflectionInfo: (requests) => reflection.answer(requests),
      });
    },
    readMaxBytes: options.readMaxBytes ?? DEFAULT_READ_MAX_BYTES,
    // Our big responses (a consensus) are served from cache; compressing them per request
    // would cost far more CPU than the bytes it saves, and invites a cheap DoS.
    acceptCompression: [],
    interceptors: options.interceptors,
    shutdownSignal: shutdown.signal,
    fallback: options.fallback,
    contextValues: (req) => createContextValues().set(remoteAddressKey, req.socket.remoteAddress ?? ""),
  });

  const h2 = http2.createServer({ settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } }, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", () => undefined); // a peer resetting its session is not our failure
  });

  // HTTP/1.1: count requests per socket so close() can drop idle keep-alive sockets at once
  // and busy ones as soon as their response is done.
  const h1Busy = new Map<net.Socket, number>();
  let closing = false;
  const h1 = http.createServer((req, res) => {
    const socket = req.socket;
    h1Busy.set(socket, (h1Busy.get(socket) ?? 0) + 1);
    res.once("close", () => {
      const left = (h1Busy.get(socket) ?? 1) - 1;
      h1Busy.set(socket, left);
      if (closing && left === 0) socket.destroy();
    });
    handler(req, res);
  });
  h1.on("clientError", (_err, socket) => socket.destroy());

  const sockets = new Set<net.Socket>();
  // Sockets handed to the http2 server: close() lets their sessions finish gracefully.
  const h2Sockets = new Set<net.Socket>();
  const perAddress = new Map<string, number>();
  const maxPerAddress = options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
  const tcp = net.createServer((socket) => {
    const address = socket.remoteAddress ?? "";
    const count = perAddress.get(address) ?? 0;
    if (closing || count >= maxPerAddress) {
      socket.destroy();
      return;
    }
    perAddress.set(address, count + 1);
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      h2Sockets.delete(socket);
      h1Busy.delete(socket);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left === 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
    socket.on("error", () => undefined);
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    sniff(socket, (isHttp2, seen) => {
      if (isHttp2) {
        // The http2 session reads what is buffered in the socket before its own reads.
        socket.pause();
        socket.unshift(seen);
        h2Sockets.add(socket);
        h2.emit("connection", socket);
      } else {
        // The http server's parser consumes the socket's handle directly and would never see
        // unshifted bytes, so hand it the sniffed bytes as a 'data' event instead.
        h1.emit("connection", socket);
        socket.emit("data", seen);
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen({ port: options.port, host: options.host, backlog: LISTEN_BACKLOG }, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  tcp.on("error", (err) => log.warn({ err }, "listener error"));
  const bound = tcp.address() as net.AddressInfo;
  const urlHost = net.isIPv6(bound.address) ? `[${bound.address}]` : bound.address;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      tcp.close(() => resolve());
      shutdown.abort(); // ends server streams (WatchConsensus) and cancels in-flight handlers
      for (const session of sessions) session.close();
      for (const [socket, busy] of h1Busy) if (busy === 0) socket.destroy();
      // Still sniffing: no request on it yet.
      for (const socket of sockets) if (!h1Busy.has(socket) && !h2Sockets.has(socket)) socket.destroy();
      setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, CLOSE_GRACE_MS).unref();
    });
    return closed;
  };

  return { host: bound.address, port: bound.port, url: `http://${urlHost}:${bound.port}`, close };
}

/** Waits for enough bytes to tell the HTTP/2 preface from an HTTP/1.1 request line. */
function sniff(socket: net.Socket, route: (isHttp2: boolean, seen: Buffer) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const prefixMatches = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (prefixMatches && n < H2_PREFACE.length) return; // need more bytes to decide
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", onEnd);
    route(prefixMatches, seen);
  };
  const onEnd = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on("data", onData);
  socket.once("end", onEnd);
}

type ReflectionResponse = MessageInitShape<typeof ServerReflectionResponseSchema>;
type ReflectionAnswer = ReflectionResponse["messageResponse"];

/**
 * gRPC server reflection over protobuf-es descriptors: list_services, file_by_filename and
 * file_containing_symbol (answered with the file and its transitive dependencies as
 * serialized FileDescriptorProtos). Unknown names get error_response NOT_FOUND.
 */
class ReflectionIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly services: string[] = [];
  private readonly encoded = new Map<DescFile, Uint8Array>();

  constructor(roots: DescFile[]) {
    const visit = (file: DescFile) => {
      if (this.files.has(file.proto.name)) return;
      this.files.set(file.proto.name, file);
      file.dependencies.forEach(visit);
      for (const message of file.messages) this.addMessage(file, message);
      for (const en of file.enums) this.symbols.set(en.typeName, file);
      for (const ext of file.extensions) this.symbols.set(ext.typeName, file);
      for (const service of file.services) {
        this.symbols.set(service.typeName, file);
        for (const method of service.methods) this.symbols.set(`${service.typeName}.${method.name}`, file);
      }
    };
    roots.forEach(visit);
    // Only the roots' services are served; dependencies may declare services we do not run.
    for (const root of roots) for (const service of root.services) this.services.push(service.typeName);
  }

  private addMessage(file: DescFile, message: DescFile["messages"][number]): void {
    this.symbols.set(message.typeName, file);
    for (const nested of message.nestedMessages) this.addMessage(file, nested);
    for (const en of message.nestedEnums) this.symbols.set(en.typeName, file);
    for (const ext of message.nestedExtensions) this.symbols.set(ext.typeName, file);
  }

  async *answer(requests: AsyncIterable<ServerReflectionRequest>): AsyncIterable<ReflectionResponse> {
    for await (const request of requests) {
      yield { validHost: request.host, originalRequest: request, messageResponse: this.respond(request) };
    }
  }

  private respond(request: ServerReflectionRequest): ReflectionAnswer {
    const { messageRequest: m } = request;
    switch (m.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: { service: this.services.map((name) => ({ name })) },
        };
      case "fileByFilename":
        return this.fileResponse(this.files.get(m.value), `no file named ${JSON.stringify(m.value)}`);
      case "fileContainingSymbol":
        return this.fileResponse(this.symbols.get(stripDot(m.value)), `no symbol named ${JSON.stringify(m.value)}`);
      case "allExtensionNumbersOfType":
        // None of our messages is extended; a known type has an empty extension list.
        if (this.symbols.has(stripDot(m.value))) {
          return { case: "allExtensionNumbersResponse", value: { baseTypeName: stripDot(m.value), extensionNumber: [] } };
        }
        return notFound(`no type named ${JSON.stringify(m.value)}`);
      case "fileContainingExtension":
        return notFound(`no extension ${m.value.extensionNumber} of ${JSON.stringify(m.value.containingType)}`);
      default:
        return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "empty reflection request" } };
    }
  }

  private fileResponse(file: DescFile | undefined, missing: string): ReflectionAnswer {
    if (file === undefined) return notFound(missing);
    const out: Uint8Array[] = [];
    const seen = new Set<DescFile>();
    const add = (f: DescFile) => {
      if (seen.has(f)) return;
      seen.add(f);
      out.push(this.encode(f));
      f.dependencies.forEach(add);
    };
    add(file);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  }

  private encode(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.encoded.set(file, bytes);
    }
    return bytes;
  }
}

function notFound(message: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

function stripDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}
