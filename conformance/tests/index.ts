/** Every conformance test, in run order. */
import type { TestCase } from "../framework.js";
import { clientTests } from "./client.js";
import { directoryTests } from "./directory.js";
import { onionTests } from "./onion.js";
import { relayTests } from "./relay.js";
import { vectorTests } from "./vectors.js";

export const allTests: TestCase[] = [...vectorTests, ...directoryTests, ...relayTests, ...clientTests, ...onionTests];

const seen = new Set<string>();
for (const t of allTests) {
  if (seen.has(t.id)) throw new Error(`duplicate test id ${t.id}`);
  seen.add(t.id);
}
