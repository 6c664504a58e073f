/**
 * `meowonion vector-check`: our codecs and crypto behind the conformance suite's vector-check
 * protocol (conformance/README.md): one JSON request per stdin line, one JSON answer per
 * stdout line, byte strings in lowercase hex. Lets the suite check src/onion black-box.
 */
import { createInterface } from "node:readline";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { FrameSchema } from "../gen/meowonion/v1/link_pb.js";
import { OnionError } from "./onion/errors.js";
import { FrameDecoder, encodeFrame } from "./onion/frame.js";
import { hkdfSha256 } from "./onion/kdf.js";
import { ntorClientFinish, ntorClientStart, ntorServerRespond, x25519PublicFromPrivate } from "./onion/ntor.js";
import { encodeRelayCell, readRelayCell } from "./onion/relay-cell.js";
import { ClientCircuitCrypto, KeystreamPool, RelayCircuitCrypto } from "./onion/relay-crypto.js";
import { signWithDomain, verifyWithDomain } from "./onion/signing.js";
import { RELAY_DIGEST_LEN, RELAY_DIGEST_OFFSET } from "./onion/relay-cell.js";

type Request = Record<string, unknown> & { id: number; op: string };

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const bytes = (value: unknown) => new Uint8Array(Buffer.from(String(value ?? ""), "hex"));
const keyPair = (secret: Uint8Array) => ({ privateKey: secret, publicKey: x25519PublicFromPrivate(secret) });

function clientCrypto(keyMaterials: unknown): ClientCircuitCrypto {
  const crypto = new ClientCircuitCrypto(new KeystreamPool());
  for (const km of keyMaterials as string[]) crypto.addHop(bytes(km));
  return crypto;
}

function answer(request: Request): Record<string, unknown> {
  switch (request.op) {
    case "ntor-server": {
      const onion = { privateKey: bytes(request.onion_secret), publicKey: bytes(request.onion_public) };
      const out = ntorServerRespond(bytes(request.client_handshake), bytes(request.relay_id), [onion], keyPair(bytes(request.server_ephemeral_secret)));
      return { server_handshake: hex(out.reply), key_material: hex(out.keyMaterial) };
    }
    case "ntor-client": {
      const { state } = ntorClientStart(bytes(request.relay_id), bytes(request.onion_public), keyPair(bytes(request.client_ephemeral_secret)));
      try {
        return { key_material: hex(ntorClientFinish(state, bytes(request.server_handshake))) };
      } catch (error) {
        if (error instanceof OnionError && error.reason === "handshake-failed") return { error: "auth" };
        throw error;
      }
    }
    case "tor1-client-outbound": {
      const crypto = clientCrypto(request.key_materials);
      const hop = Number(request.target_hop);
      return { cells: (request.bodies as string[]).map((body) => hex(crypto.encryptOutbound(bytes(body), hop))) };
    }
    case "tor1-client-inbound": {
      const crypto = clientCrypto(request.key_materials);
      return {
        results: (request.cells as string[]).map((cell) => {
          try {
            const inbound = crypto.decryptInbound(bytes(cell));
            return { hop: inbound.hop, body: hex(inbound.body) };
          } catch (error) {
            if (error instanceof OnionError && error.reason === "cell-unrecognized") return { hop: null };
            throw error;
          }
        }),
      };
    }
    case "tor1-relay-originate": {
      const crypto = new RelayCircuitCrypto(bytes(request.key_material), new KeystreamPool());
      return { cells: (request.bodies as string[]).map((body) => hex(crypto.encryptInbound(bytes(body), true))) };
    }
    case "relay-cell-encode":
      return { body: hex(encodeRelayCell(Number(request.command), Number(request.stream_id), bytes(request.data))) };
    case "relay-cell-decode": {
      const body = bytes(request.body);
      const cell = readRelayCell(body);
      return {
        command: cell.command,
        recognized: (body[1] << 8) | body[2],
        stream_id: cell.streamId,
        digest: hex(body.subarray(RELAY_DIGEST_OFFSET, RELAY_DIGEST_OFFSET + RELAY_DIGEST_LEN)),
        data: hex(cell.data),
      };
    }
    case "frame-decode": {
      const input = bytes(request.bytes);
      const decoder = new FrameDecoder();
      try {
        const frames = decoder.push(input);
        if (frames.length !== 1) return { error: "invalid" };
        return { frame: toJson(FrameSchema, frames[0]), consumed: input.length - decoder.bufferedBytes };
      } catch (error) {
        return { error: error instanceof OnionError && error.reason === "frame-too-large" ? "oversized" : "invalid" };
      }
    }
    case "frame-encode":
      return { bytes: hex(encodeFrame(fromJson(FrameSchema, request.frame as never))) };
    case "hkdf-sha256":
      return { okm: hex(hkdfSha256(bytes(request.ikm), bytes(request.salt), bytes(request.info), Number(request.length))) };
    case "sign":
      return { signature: hex(signWithDomain(String(request.domain), bytes(request.message), bytes(request.seed))) };
    case "verify":
      return { valid: verifyWithDomain(String(request.domain), bytes(request.message), bytes(request.signature), bytes(request.public_key)) };
    default:
      return { unsupported: true };
  }
}

export async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    let request: Request;
    try {
      request = JSON.parse(line) as Request;
    } catch {
      continue;
    }
    let out: Record<string, unknown>;
    try {
      out = answer(request);
    } catch (error) {
      out = { error: (error as Error).message };
    }
    process.stdout.write(`${JSON.stringify({ id: request.id, ...out })}\n`);
  }
}
