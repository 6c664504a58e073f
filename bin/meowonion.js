#!/usr/bin/env -S node --max-semi-space-size=8 --initial-old-space-size=64
// The V8 options are src/network/child.ts's NODE_FLAGS (why: there).
// In a clone, the TypeScript runs through tsx's loader (no build step); the installed package
// ships no src/, only the compiled CLI (dist/, built by `npm pack`'s prepack).
import { existsSync } from "node:fs";

const source = new URL("../src/cli.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import("../dist/src/cli.js");
}
