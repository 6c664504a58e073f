/**
 * Debian's Chromium (installed by scripts/ensure-chromium.sh, which CI runs) driven by
 * playwright-core: nothing is downloaded. Headless, with the background services that would
 * otherwise try to reach the outside network turned off, and a fresh profile that teardown
 * removes.
 */
import { existsSync } from "node:fs";
import { chromium, type BrowserContext } from "playwright-core";
import { type Cleanups, tempDir } from "./cleanups.js";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH) ? undefined : `${CHROMIUM_PATH} is not installed (sudo bash scripts/ensure-chromium.sh; CI runs it)`;
}

export async function launchChromium(cleanups: Cleanups, viewport = { width: 1280, height: 900 }): Promise<BrowserContext> {
  const profile = await tempDir(cleanups, "meowonion-chromium-");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  cleanups.add(() => context.close());
  return context;
}
