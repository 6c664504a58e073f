/**
 * Prints the relays of an authority's verified consensus as one JSON line (multi-host tests
 * run it inside a namespace that can reach the authority):
 *   node --import tsx test/helpers/consensus-main.ts URL KEYHEX
 */
import { fetchConsensusFrom } from "./network.js";

const [url, key] = process.argv.slice(2);
try {
  const c = await fetchConsensusFrom({ url, key });
  const relays = (c?.relays ?? []).map((r) => ({ nickname: r.nickname, identity: Buffer.from(r.identityKey).toString("hex"), address: `${r.ipv4Address}:${r.orPort}`, flags: r.flags }));
  process.stdout.write(`${JSON.stringify({ relays })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: (error as Error).message, relays: [] })}\n`);
}
process.exit(0);
