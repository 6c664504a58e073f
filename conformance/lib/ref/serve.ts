/**
 * Serving Connect routes on one port for HTTP/2 (h2c) and HTTP/1.1, as directory.proto requires,
 * plus gRPC server reflection (grpc.reflection.v1) over the spec's generated descriptors.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { Duplex } from "node:stream";
import { create, toBinary } from "@bufbuild/protobuf";
import type { DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ServerReflection, ServerReflectionResponseSchema } from "../../../gen/grpc/reflection/v1/reflection_pb.js";

/** http2 reads a native socket's handle directly and would miss peeked bytes: replay them through a JS duplex. */
function replayDuplex(socket: net.Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  d.push(first);
  socket.on("data", (c) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on("end", () => d.push(null));
  socket.on("error", (e) => d.destroy(e));
  socket.on("close", () => d.destroy());
  return d;
}

export interface Served {
  url: string;
  stop(): Promise<void>;
}

export async function serveConnect(routes: (r: ConnectRouter) => void, host = "127.0.0.1", port = 0): Promise<Served> {
  const handler = connectNodeAdapter({ routes, readMaxBytes: 64 * 1024 });
  const h1 = http.createServer(handler);
  const h2 = http2.createServer(handler);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.once("data", (first) => {
      socket.pause();
      if (first.subarray(0, 3).toString("latin1") === "PRI") h2.emit("connection", replayDuplex(socket, first));
      else {
        socket.unshift(first);
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const a = server.address() as net.AddressInfo;
  return {
    url: `http://${a.address}:${a.port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Register grpc.reflection.v1 for the given files (list services, file by name / containing symbol). */
export function addReflection(router: ConnectRouter, files: DescFile[], services: string[]): void {
  router.service(ServerReflection, {
    async *serverReflectionInfo(reqs) {
      for await (const r of reqs) {
        const res = create(ServerReflectionResponseSchema, { originalRequest: r });
        const m = r.messageRequest;
        if (m.case === "listServices") {
          res.messageResponse = { case: "listServicesResponse", value: { $typeName: "grpc.reflection.v1.ListServiceResponse", service: [...services, ServerReflection.typeName].map((name) => ({ $typeName: "grpc.reflection.v1.ServiceResponse" as const, name })) } };
        } else if (m.case === "fileContainingSymbol" || m.case === "fileByFilename") {
          const f = files.find((f) =>
            m.case === "fileByFilename"
              ? f.proto.name === m.value
              : f.services.some((s) => s.typeName === m.value || m.value.startsWith(`${s.typeName}.`)) || f.messages.some((x) => x.typeName === m.value) || f.enums.some((x) => x.typeName === m.value),
          );
          if (f) {
            const deps = [f, ...f.dependencies];
            res.messageResponse = { case: "fileDescriptorResponse", value: { $typeName: "grpc.reflection.v1.FileDescriptorResponse", fileDescriptorProto: deps.map((d) => toBinary(FileDescriptorProtoSchema, d.proto)) } };
          } else {
            res.messageResponse = { case: "errorResponse", value: { $typeName: "grpc.reflection.v1.ErrorResponse", errorCode: Code.NotFound, errorMessage: "not found" } };
          }
        } else {
          res.messageResponse = { case: "errorResponse", value: { $typeName: "grpc.reflection.v1.ErrorResponse", errorCode: Code.Unimplemented, errorMessage: "unimplemented" } };
        }
        yield res;
      }
    },
  });
}
