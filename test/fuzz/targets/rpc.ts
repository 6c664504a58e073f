/**
 * Directory RPC bodies over real HTTP: a directory authority runs in this process (with the
 * per-source budget opened wide, so the decoders are reached instead of the throttle, and a
 * stub reachability probe, so nothing a fuzzed descriptor names is ever contacted), and every
 * input is one HTTP/1.1 request on a keep-alive connection: any method path, any content type
 * (Connect unary JSON/proto, Connect streaming, gRPC-Web, GET), any body (protobuf-shaped,
 * JSON, mutated valid requests, random bytes, lying envelopes).
 * Property: an answer always comes within the time bound, and it is a success or a Connect
 * error with one of the documented refusal codes; never internal/unknown, never a dropped
 * connection, never a crash.
 */
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary, toJsonString, type DescMessage } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import {
  GetConsensusSignatureRequestSchema,
  GetDescriptorRequestSchema,
  GetVoteRequestSchema,
  HeartbeatRequestSchema,
  PublishDescriptorRequestSchema,
} from "../../../gen/meowonion/v1/directory_pb.js";
import { signHeartbeat } from "../../../src/netdoc/heartbeat.js";
import { startDirectory, type DirectoryServer } from "../../../src/directory/server.js";
import { DOMAIN_DESCRIPTOR, generateEd25519KeyPair, signWithDomain } from "../../../src/onion/signing.js";
import type { FuzzTarget } from "../harness.js";
import { concatBytes, mutated } from "../mutate.js";
import { protoWire } from "../protowire.js";
import { descriptorArbitrary } from "./directory.js";

const SERVICE = "/meowonion.v1.DirectoryService/";
const METHODS = ["PublishDescriptor", "Heartbeat", "GetConsensus", "WatchConsensus", "GetDescriptor", "GetVote", "GetConsensusSignature"];
const STREAMING = new Set(["WatchConsensus"]);
/** Connect error codes (as strings) and gRPC status numbers that are refusals, not failures. */
const REFUSED_CONNECT = new Set(["invalid_argument", "resource_exhausted", "unauthenticated", "out_of_range", "already_exists", "failed_precondition", "not_found", "unavailable", "unimplemented", "canceled"]);
const REFUSED_GRPC = new Set(["3", "8", "16", "11", "6", "9", "5", "14", "12", "1"]);

/** A refusal with a documented code: the typed outcome. */
export class RpcRefusal extends Error {
  override readonly name = "RpcRefusal";
  constructor(readonly code: string) {
    super(`refused: ${code}`);
  }
}

class RpcFailure extends Error {
  override readonly name = "RpcFailure";
}

let server: DirectoryServer | undefined;
let agent: http.Agent | undefined;
const relay = generateEd25519KeyPair();
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });

function encodeRequest(schema: DescMessage, init: unknown, json: boolean): Uint8Array {
  const message = create(schema, init as never);
  if (!json) return toBinary(schema, message);
  try {
    return new TextEncoder().encode(toJsonString(schema, message));
  } catch {
    // Not representable in JSON (a timestamp out of range): send what a hand-written client might.
    return new TextEncoder().encode('{"validAfter":"10000-01-01T00:00:00Z","consensusDigest":"AAAA"}');
  }
}

const timeMs = fc.oneof(
  fc.integer({ min: Date.now() - 600_000, max: Date.now() + 600_000 }),
  fc.constantFrom(0, -1, 8.64e15 + 1, -8.64e15 - 1, 1e17, -1e17),
  fc.integer({ min: -1e16, max: 1e16 }),
);
const timestamp = fc.oneof(
  timeMs.map((ms) => timestampFromMs(Math.trunc(ms / 1000) * 1000)),
  fc.record({ seconds: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), nanos: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
);

/** Mostly-valid request messages per method, serialized as proto or JSON. */
function validBody(method: string, json: boolean): fc.Arbitrary<Uint8Array> {
  switch (method) {
    case "PublishDescriptor":
      return descriptorArbitrary(relay.publicKey).map((descriptor) =>
        encodeRequest(PublishDescriptorRequestSchema, { descriptor: { descriptor, signature: signWithDomain(DOMAIN_DESCRIPTOR, descriptor, relay.privateKey) } }, json));
    case "Heartbeat":
      return fc.integer({ min: -90_000, max: 90_000 }).map((skew) => {
        const request = signHeartbeat(relay, { sentAtMs: Date.now() + skew });
        return json ? new TextEncoder().encode(toJsonString(HeartbeatRequestSchema, request)) : toBinary(HeartbeatRequestSchema, request);
      });
    case "GetDescriptor":
      return fc.oneof(fc.constant(relay.publicKey), bytes(0, 40)).map((identityKey) => encodeRequest(GetDescriptorRequestSchema, { identityKey }, json));
    case "GetVote":
      return fc.option(timestamp, { nil: undefined }).map((validAfter) => encodeRequest(GetVoteRequestSchema, { validAfter }, json));
    case "GetConsensusSignature":
      return fc.record({ validAfter: fc.option(timestamp, { nil: undefined }), consensusDigest: fc.oneof(bytes(32, 32), bytes(0, 40)) })
        .map((r) => encodeRequest(GetConsensusSignatureRequestSchema, r, json));
    default:
      return fc.constant(json ? new TextEncoder().encode("{}") : new Uint8Array(0));
  }
}

function envelope(flags: number, payload: Uint8Array, lie: number): Uint8Array {
  const header = new Uint8Array(5);
  header[0] = flags;
  new DataView(header.buffer).setUint32(1, Math.max(0, payload.length + lie) >>> 0);
  return concatBytes([header, payload]);
}

interface RpcInput {
  path: string;
  method: "POST" | "GET" | "PUT";
  contentType: string;
  body: Uint8Array;
  streaming: boolean;
}

const randomJson = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.constantFrom('{"descriptor":{"descriptor":"!!!"}}', '{"validAfter":"99999-01-01T00:00:00Z"}', '{"validAfter":"1970-01-01T00:00:00.1234567891Z"}', '{"identityKey":12}', "[", '{"heartbeat":null}', '{"validAfter":"-0001-01-01T00:00:00Z"}'),
).map((s) => new TextEncoder().encode(s));

const rpcInput: fc.Arbitrary<RpcInput> = fc
  .record({
    method: fc.oneof({ weight: 20, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: fc.constantFrom("Nope", "", "getConsensus") }),
    wire: fc.constantFrom("proto", "json", "connect-stream", "grpc-web", "get", "odd-type"),
    payloadKind: fc.constantFrom("valid", "mutated", "protowire", "random", "json"),
    lie: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -10, max: 100_000 }) }),
    flags: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    seed: fc.nat(),
  })
  .chain(({ method, wire, payloadKind, lie, flags }) => {
    const json = wire === "json";
    const valid = validBody(method, json);
    const payload =
      payloadKind === "valid" ? valid
      : payloadKind === "mutated" ? mutated(valid, 3)
      : payloadKind === "protowire" ? protoWire
      : payloadKind === "json" ? randomJson
      : bytes(0, 3000);
    return payload.map((body): RpcInput => {
      const path = SERVICE + method;
      const streaming = STREAMING.has(method);
      switch (wire) {
        case "proto":
          return { path, method: "POST", contentType: "application/proto", body, streaming };
        case "json":
          return { path, method: "POST", contentType: "application/json", body, streaming };
        case "connect-stream":
          return { path, method: "POST", contentType: "application/connect+proto", body: envelope(flags, body, lie), streaming: true };
        case "grpc-web":
          return { path, method: "POST", contentType: "application/grpc-web+proto", body: envelope(flags, body, lie), streaming: true };
        case "get": {
          const q = `?connect=v1&encoding=proto&base64=1&message=${Buffer.from(body).toString("base64url")}`;
          return { path: path + q, method: "GET", contentType: "", body: new Uint8Array(0), streaming };
        }
        default:
          return { path, method: "POST", contentType: ["text/plain", "application/grpc+proto", "application/proto; charset=ü", "application/x-www-form-urlencoded"][body.length % 4], body, streaming };
      }
    });
  });

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** True if we hung up ourselves on an open stream that was answering. */
  streamed: boolean;
}

function request(input: RpcInput, timeoutMs: number): Promise<Answer> {
  const { host, port } = server!;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "connect-protocol-version": "1" };
    if (input.contentType !== "") headers["content-type"] = input.contentType;
    if (input.contentType.startsWith("application/grpc")) headers["x-grpc-web"] = "1";
    if (input.method !== "GET") headers["content-length"] = String(input.body.length);
    const req = http.request({ host, port, path: input.path, method: input.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      let streamed = false;
      // A stream that answers 200 and keeps going (WatchConsensus) is fine: take what came.
      const enough = input.streaming && res.statusCode === 200 ? setTimeout(() => {
        clearTimeout(timer);
        streamed = true;
        req.destroy();
        resolve({ status: 200, headers: res.headers, body: Buffer.concat(chunks), streamed });
      }, 150) : undefined;
      res.on("data", (c: Buffer) => {
        chunks.push(c);
        // An open stream that has started answering: take its first message and hang up.
        if (enough !== undefined && !streamed) {
          clearTimeout(enough);
          clearTimeout(timer);
          streamed = true;
          req.destroy();
          resolve({ status: 200, headers: res.headers, body: Buffer.concat(chunks), streamed });
        }
      });
      res.on("end", () => {
        clearTimeout(enough);
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), streamed });
      });
      res.on("error", (err) => {
        clearTimeout(enough);
        if (!streamed) reject(new RpcFailure(`response broke: ${err.message}`));
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new RpcFailure(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      if (!req.destroyed || (err as NodeJS.ErrnoException).code !== "ECONNRESET") reject(new RpcFailure(`request failed: ${err.message}`));
    });
    req.end(input.body);
  });
}

/** Error code carried by a Connect / gRPC-Web answer, undefined for success. */
function codeOf(input: RpcInput, answer: Answer): string | undefined {
  const ct = String(answer.headers["content-type"] ?? "");
  if (ct.startsWith("application/grpc-web")) {
    const status = answer.headers["grpc-status"] ?? /grpc-status:\s*(\d+)/i.exec(answer.body.toString("latin1"))?.[1];
    if (status === undefined) return answer.streamed ? undefined : "missing-grpc-status";
    return status === "0" ? undefined : `grpc:${status}`;
  }
  if (ct.startsWith("application/connect+")) {
    // The end-stream message is the last envelope with flag 0x02: {"error":{"code":...}}.
    let at = 0;
    let end: string | undefined;
    while (at + 5 <= answer.body.length) {
      const flags = answer.body[at];
      const len = answer.body.readUInt32BE(at + 1);
      if (flags & 0x02) end = answer.body.toString("utf8", at + 5, at + 5 + len);
      at += 5 + len;
    }
    if (end === undefined) return answer.streamed ? undefined : "missing-end-stream";
    const parsed = JSON.parse(end) as { error?: { code?: string } };
    return parsed.error?.code;
  }
  if (answer.status === 200) return undefined;
  if (ct.startsWith("application/json")) {
    try {
      return (JSON.parse(answer.body.toString("utf8")) as { code?: string }).code ?? `http:${answer.status}`;
    } catch {
      return `http:${answer.status}`;
    }
  }
  // Not a Connect answer: unknown route (404), unsupported media type (415), bad method (405).
  return `http:${answer.status}`;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const REFUSED_HTTP = new Set(["http:404", "http:415", "http:405", "http:400", "http:408", "http:413", "http:505"]);

export const directoryRpcTarget: FuzzTarget<RpcInput> = {
  name: "directory-rpc-http",
  description: "random request bodies/content types/envelopes to every DirectoryService RPC over real HTTP/1.1 to an in-process authority",
  arbitrary: rpcInput,
  async: true,
  perInputMs: 5000,
  soakShards: 2,
  shortRunsCap: 1500,
  async setup() {
    const dataDir = await mkdtemp(join(tmpdir(), "meowonion-fuzz-dir-"));
    server = await startDirectory({
      host: "127.0.0.1",
      port: 0,
      dataDir,
      intervalMs: 2_000,
      heartbeatTimeoutMs: 10_000,
      // Never contact what a fuzzed descriptor names.
      probe: async () => {
        throw new Error("reachability disabled while fuzzing");
      },
      budget: { burst: 1e12, perSecond: 1e12 },
      maxRelays: 2_000,
    });
    agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    return async () => {
      agent?.destroy();
      await server?.close();
      server = undefined;
      await rm(dataDir, { recursive: true, force: true });
    };
  },
  async run(input) {
    const answer = await request(input, 4000);
    const code = codeOf(input, answer);
    if (code === undefined) return;
    if (REFUSED_CONNECT.has(code) || REFUSED_HTTP.has(code) || (code.startsWith("grpc:") && REFUSED_GRPC.has(code.slice(5)))) {
      throw new RpcRefusal(code);
    }
    const raw = answer.body.toString("latin1");
    // Framing and body errors answered by the RPC library itself, with the code the gRPC /
    // Connect protocol specs prescribe for them (INTERNAL for a compressed flag without an
    // encoding, a truncated or oversized envelope, a body that is no message at all, as
    // directory.proto ERRORS says): refusals, not failures of our handlers.
    if (/compressed envelope|premature eof|protocol error|promised \d+ bytes|invalid envelope|unexpected EOF|cannot decode|parse binary/i.test(safeDecode(raw))) {
      throw new RpcRefusal(`${code} (framing)`);
    }
    const grpcMessage = /grpc-message:\s*([^\r\n]*)/i.exec(answer.body.toString("latin1"))?.[1] ?? String(answer.headers["grpc-message"] ?? "");
    const detail = grpcMessage !== "" ? safeDecode(grpcMessage) : answer.body.toString("utf8").slice(0, 300);
    throw new RpcFailure(`${input.method} ${input.path.slice(0, 80)} (${input.contentType}) answered ${answer.status} code=${code}: ${detail}`);
  },
  typed: (error) => error instanceof RpcRefusal,
};
