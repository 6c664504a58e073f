/** vitest global setup: the status page bundle the authorities in tests serve, built from the current web/status/. */
import { buildStatusPage } from "../../scripts/build-status-page.js";

export default async function setup(): Promise<void> {
  await buildStatusPage();
}
