#!/usr/bin/env -S node --max-semi-space-size=8 --initial-old-space-size=64
// The V8 options are src/network/child.ts's NODE_FLAGS (why: there).
// Installed entry point: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
