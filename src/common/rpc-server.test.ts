/**
 * The shared RPC server over real sockets: HTTP/1.1 and HTTP/2 on one port, Connect, gRPC and
 * gRPC-Web, gRPC reflection, the request size limit, and a close() that ends open streams.
 */
import http from "node:http";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  Http2SessionManager,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { DirectoryService, file_meowonion_v1_directory } from "../../gen/meowonion/v1/directory_pb.js";
import { remoteAddressKey, startRpcServer, type RpcServer } from "./rpc-server.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let watchStarted: () => void = () => undefined;

/** A stub DirectoryService: GetDescriptor echoes the caller's address in the signature field. */
async function serve(): Promise<RpcServer> {
  const server = await startRpcServer({
    host: "127.0.0.1",
    port: 0,
    files: [file_meowonion_v1_directory],
    register: (router) =>
      router.service(DirectoryService, {
        getDescriptor: async (req, ctx) => {
          if (req.identityKey.length !== 32) throw new ConnectError("identity_key must be 32 bytes", Code.InvalidArgument);
          if (req.identityKey[0] === 0xee) await new Promise((resolve) => setTimeout(resolve, 300)); // a slow call
          const from = ctx.values.get(remoteAddressKey);
          return { descriptor: { descriptor: req.identityKey, signature: new TextEncoder().encode(from) } };
        },
        async *watchConsensus(_req, ctx) {
          watchStarted();
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        },
      }),
  });
  cleanups.push(() => server.close());
  return server;
}

function h2Transport(server: RpcServer, kind: "connect" | "grpc"): Transport {
  const sessionManager = new Http2SessionManager(server.url);
  cleanups.push(() => sessionManager.abort());
  const make = kind === "connect" ? createConnectTransport : createGrpcTransport;
  return make({ baseUrl: server.url, httpVersion: "2", sessionManager });
}

const key = new Uint8Array(32).fill(7);

async function reflect(
  server: RpcServer,
  requests: MessageInitShape<typeof ServerReflectionRequestSchema>[],
): Promise<ServerReflectionResponse[]> {
  const client = createClient(ServerReflection, h2Transport(server, "grpc"));
  async function* input() {
    for (const r of requests) yield create(ServerReflectionRequestSchema, r);
  }
  const out: ServerReflectionResponse[] = [];
  for await (const response of client.serverReflectionInfo(input())) out.push(response);
  return out;
}

describe("startRpcServer", () => {
  it("answers a plain HTTP/1.1 JSON request (what curl sends)", async () => {
    const server = await serve();
    const body = JSON.stringify({ identityKey: Buffer.from(key).toString("base64") });
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        `${server.url}/meowonion.v1.DirectoryService/GetDescriptor`,
        { method: "POST", headers: { "content-type": "application/json" } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    expect(status).toBe(200);
    const json = JSON.parse(text) as { descriptor: { descriptor: string; signature: string } };
    expect(Buffer.from(json.descriptor.descriptor, "base64")).toEqual(Buffer.from(key));
    expect(Buffer.from(json.descriptor.signature, "base64").toString()).toBe("127.0.0.1");
  });

  it("answers Connect and gRPC over HTTP/2 and gRPC-Web over HTTP/1.1", async () => {
    const server = await serve();
    for (const transport of [
      h2Transport(server, "connect"),
      h2Transport(server, "grpc"),
      createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }),
    ]) {
      const res = await createClient(DirectoryService, transport).getDescriptor({ identityKey: key });
      expect(res.descriptor?.descriptor).toEqual(key);
    }
  });

  it("passes handler errors through with their Code", async () => {
    const server = await serve();
    const client = createClient(DirectoryService, h2Transport(server, "connect"));
    const err = await client.getDescriptor({ identityKey: new Uint8Array(3) }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.InvalidArgument);
  });

  it("refuses a request above readMaxBytes with RESOURCE_EXHAUSTED", async () => {
    const server = await serve();
    const client = createClient(DirectoryService, h2Transport(server, "grpc"));
    const err = await client.getDescriptor({ identityKey: new Uint8Array(65 * 1024) }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.ResourceExhausted);
  });

  it("serves gRPC reflection: list_services, file_containing_symbol with dependencies, NOT_FOUND", async () => {
    const server = await serve();
    const [list, byName, bySymbol, missing] = await reflect(server, [
      { messageRequest: { case: "listServices", value: "" } },
      { messageRequest: { case: "fileByFilename", value: "meowonion/v1/directory.proto" } },
      { messageRequest: { case: "fileContainingSymbol", value: "meowonion.v1.DirectoryService.GetConsensus" } },
      { messageRequest: { case: "fileContainingSymbol", value: "meowonion.v1.NoSuchThing" } },
    ]);
    expect(list.messageResponse.case).toBe("listServicesResponse");
    const names = list.messageResponse.case === "listServicesResponse" ? list.messageResponse.value.service.map((s) => s.name) : [];
    expect(names).toEqual(["meowonion.v1.DirectoryService", "grpc.reflection.v1.ServerReflection"]);

    for (const response of [byName, bySymbol]) {
      expect(response.messageResponse.case).toBe("fileDescriptorResponse");
      if (response.messageResponse.case !== "fileDescriptorResponse") continue;
      const files = response.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
      expect(files[0]).toBe("meowonion/v1/directory.proto");
      expect(files).toEqual(
        expect.arrayContaining(["google/protobuf/timestamp.proto", "meowonion/v1/consensus.proto", "meowonion/v1/descriptor.proto"]),
      );
    }
    expect(missing.messageResponse.case).toBe("errorResponse");
    if (missing.messageResponse.case === "errorResponse") expect(missing.messageResponse.value.errorCode).toBe(Code.NotFound);
  });

  it("close() lets an in-flight unary call finish", async () => {
    const server = await serve();
    const client = createClient(DirectoryService, h2Transport(server, "connect"));
    await client.getDescriptor({ identityKey: key }); // connection up
    const slow = client.getDescriptor({ identityKey: new Uint8Array(32).fill(0xee) });
    await new Promise((resolve) => setTimeout(resolve, 50)); // the call is in the handler
    await server.close();
    expect((await slow).descriptor?.descriptor[0]).toBe(0xee);
  });

  it("close() ends open server streams and resolves promptly", async () => {
    const server = await serve();
    const client = createClient(DirectoryService, h2Transport(server, "connect"));
    const started = new Promise<void>((resolve) => (watchStarted = resolve));
    const stream = (async () => {
      for await (const _ of client.watchConsensus({})) {
        // the stub never sends
      }
    })().catch((e: unknown) => e);
    await started;
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(1_500);
    await stream; // the stream ended (cleanly or with an error) instead of hanging
  });
});
