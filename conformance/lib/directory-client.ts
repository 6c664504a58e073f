/** Connect clients for the directory (directory.proto), over each transport the spec names. */
import { type Client, type Transport, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DirectoryService } from "../../gen/meowonion/v1/directory_pb.js";

export type TransportKind = "grpc-h2" | "connect-h2" | "connect-h1" | "connect-get-h1" | "grpc-web-h1";

export function transport(baseUrl: string, kind: TransportKind = "grpc-h2"): Transport {
  switch (kind) {
    case "grpc-h2":
      return createGrpcTransport({ baseUrl });
    case "connect-h2":
      return createConnectTransport({ baseUrl, httpVersion: "2" });
    case "connect-h1":
      return createConnectTransport({ baseUrl, httpVersion: "1.1" });
    case "connect-get-h1":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", useHttpGet: true });
    case "grpc-web-h1":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
  }
}

export type DirectoryClient = Client<typeof DirectoryService>;

export function directoryClient(baseUrl: string, kind: TransportKind = "grpc-h2"): DirectoryClient {
  return createClient(DirectoryService, transport(baseUrl, kind));
}
