import { defineConfig } from "vitest/config";

// bench:compare's own tests: `npx vitest run --config bench/compare/vitest.config.ts`
// (the root vitest.config.ts includes src/, test/ and conformance/ only).
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["bench/compare/**/*.test.ts"],
    testTimeout: 30_000,
  },
});
