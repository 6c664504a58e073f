/**
 * The suite's reference vector-check server (README "The vector-check protocol"), built on
 * conformance/lib. It shows another implementation what to answer, and with --fault it is one of
 * the self-test's faulty implementations. Run: node --import tsx conformance/lib/ref/vector-check.ts
 */
import { createInterface } from "node:readline";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { FrameSchema } from "../../../gen/meowonion/v1/link_pb.js";
import { concat, hex, unhex, utf8 } from "../bytes.js";
import { ed25519FromSeed, ed25519Sign, ed25519Verify, hkdfSha256, x25519FromSecret } from "../crypto.js";
import { FrameError, FrameReader, encodeFrame } from "../frame.js";
import { NtorAuthError, ntorClientFinish, ntorClientStart, ntorServer } from "../ntor.js";
import { decodeRelayCell, encodeRelayCell } from "../relay-cell.js";
import { ClientCircuitCrypto, HopCrypto } from "../tor1.js";

const faults = new Set(process.argv.slice(2).filter((_a, i, all) => all[i - 1] === "--fault"));

type Req = Record<string, unknown> & { id: number; op: string };
const s = (v: unknown) => String(v ?? "");
const b = (v: unknown) => unhex(s(v));

function handle(r: Req): Record<string, unknown> {
  switch (r.op) {
    case "ntor-server": {
      const out = ntorServer(b(r.client_handshake), b(r.relay_id), [x25519FromSecret(b(r.onion_secret))], x25519FromSecret(b(r.server_ephemeral_secret)));
      return { server_handshake: hex(out.reply), key_material: hex(out.keys) };
    }
    case "ntor-client": {
      const st = ntorClientStart(b(r.relay_id), b(r.onion_public), x25519FromSecret(b(r.client_ephemeral_secret)));
      try {
        const keys = ntorClientFinish(st, b(r.server_handshake));
        return { key_material: hex(keys) };
      } catch (e) {
        if (e instanceof NtorAuthError) {
          if (faults.has("ntor-no-auth-check")) return { key_material: "00".repeat(92) };
          return { error: "auth" };
        }
        throw e;
      }
    }
    case "tor1-client-outbound": {
      const c = new ClientCircuitCrypto();
      for (const km of r.key_materials as string[]) c.addHop(unhex(km));
      const target = Number(r.target_hop);
      const cells = (r.bodies as string[]).map((body) => {
        const plain = unhex(body);
        if (faults.has("no-zero-digest")) {
          // Faulty: hashes the body with junk left in the digest field, then stamps.
          const d = c.hops[target].fwdDigest;
          const p = Uint8Array.from(plain);
          p[5] ^= 0xff;
          const { next, value } = d.peek(p, false);
          d.commit(next);
          p[5] ^= 0xff;
          p.set(value.subarray(0, 4), 5);
          let x: Uint8Array = p;
          for (let i = target; i >= 0; i--) x = c.hops[i].fwd.update(x);
          return hex(x);
        }
        return hex(c.encryptOutbound(plain, target).cell);
      });
      return { cells };
    }
    case "tor1-client-inbound": {
      const c = new ClientCircuitCrypto();
      for (const km of r.key_materials as string[]) c.addHop(unhex(km));
      return { results: (r.cells as string[]).map((x) => { const d = c.decryptInbound(unhex(x)); return d ? { hop: d.hop, body: hex(d.body) } : { hop: null }; }) };
    }
    case "tor1-relay-originate": {
      const h = new HopCrypto(b(r.key_material));
      return { cells: (r.bodies as string[]).map((x) => { const body = unhex(x); const d = h.bwdDigest.update(body); body.set(d.subarray(0, 4), 5); return hex(h.bwd.update(body)); }) };
    }
    case "relay-cell-encode": {
      return { body: hex(encodeRelayCell(Number(r.command), Number(r.stream_id), b(r.data))) };
    }
    case "relay-cell-decode": {
      try {
        const c = decodeRelayCell(b(r.body));
        return { command: c.command, recognized: c.recognized, stream_id: c.streamId, digest: hex(c.digest), data: hex(c.data) };
      } catch (e) {
        return { error: (e as Error).message };
      }
    }
    case "frame-decode": {
      try {
        const frames = new FrameReader().push(b(r.bytes));
        if (frames.length !== 1) return { error: "incomplete" };
        return { frame: toJson(FrameSchema, frames[0].frame), consumed: frames[0].wireLen };
      } catch (e) {
        if (faults.has("frame-no-size-limit") && e instanceof FrameError && e.kind === "oversized") return { frame: {}, consumed: 0 };
        return { error: e instanceof FrameError && e.kind === "oversized" ? "oversized" : "invalid" };
      }
    }
    case "frame-encode": {
      return { bytes: hex(encodeFrame(fromJson(FrameSchema, r.frame as never))) };
    }
    case "hkdf-sha256":
      return { okm: hex(hkdfSha256(b(r.ikm), b(r.salt), b(r.info), Number(r.length))) };
    case "sign": {
      const key = ed25519FromSeed(b(r.seed));
      const msg = faults.has("sign-no-domain") ? b(r.message) : concat(utf8(s(r.domain)), new Uint8Array([0]), b(r.message));
      return { signature: hex(ed25519Sign(key, msg)) };
    }
    case "verify":
      return { valid: ed25519Verify(b(r.public_key), concat(utf8(s(r.domain)), new Uint8Array([0]), b(r.message)), b(r.signature)) };
    default:
      return { unsupported: true };
  }
}

createInterface({ input: process.stdin }).on("line", (line) => {
  let r: Req;
  try {
    r = JSON.parse(line);
  } catch {
    return;
  }
  let out: Record<string, unknown>;
  try {
    out = handle(r);
  } catch (e) {
    out = { error: (e as Error).message };
  }
  process.stdout.write(JSON.stringify({ id: r.id, ...out }) + "\n");
});
