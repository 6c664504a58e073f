import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "conformance/**/*.test.ts", "bench/**/*.test.ts", "web/**/*.test.ts"],
    // Authorities started by tests serve the status page built from the current web/status/.
    globalSetup: ["test/helpers/build-status-page.setup.ts"],
    // Nodes started by tests log nothing unless a test asks (MEOWONION_LOG_LEVEL=debug npm test).
    env: { MEOWONION_LOG_LEVEL: process.env.MEOWONION_LOG_LEVEL ?? "silent" },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
