/**
 * What the README promises a new user: `buf curl --http2-prior-knowledge` works against a
 * running authority with no schema (gRPC reflection), over Connect and gRPC, and a plain
 * HTTP/1.1 GET fetches the consensus.
 */
import { execFile } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { fromJsonString } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { GetConsensusResponseSchema } from "../../gen/meowonion/v1/directory_pb.js";
import { waitForConsensus } from "../../test/helpers/directory.js";
import { verifySignedConsensus } from "../netdoc/consensus.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
const run = promisify(execFile);

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("tools against a running authority", () => {
  it("buf curl lists the services and calls GetConsensus without a schema (Connect and gRPC)", async () => {
    const { server, client } = await startTestDirectory(cleanups);
    await waitForConsensus(client, [server.publicKey], () => true);

    const { stdout: services } = await run(BUF, ["curl", "--http2-prior-knowledge", "--list-services", server.url]);
    expect(services.split("\n")).toContain("meowonion.v1.DirectoryService");

    for (const protocol of ["connect", "grpc"]) {
      const { stdout } = await run(BUF, [
        "curl",
        "--http2-prior-knowledge",
        "--protocol",
        protocol,
        `${server.url}/meowonion.v1.DirectoryService/GetConsensus`,
      ]);
      const response = fromJsonString(GetConsensusResponseSchema, stdout);
      verifySignedConsensus(response.consensus!, [server.publicKey]);
    }
  });

  it("serves GetConsensus to a plain HTTP/1.1 GET (Connect GET, JSON)", async () => {
    const { server, client } = await startTestDirectory(cleanups);
    await waitForConsensus(client, [server.publicKey], () => true);
    const { status, body } = await httpGet(`${server.url}/meowonion.v1.DirectoryService/GetConsensus?connect=v1&encoding=json&message=%7B%7D`);
    expect(status).toBe(200);
    verifySignedConsensus(fromJsonString(GetConsensusResponseSchema, body).consensus!, [server.publicKey]);
  });
});
