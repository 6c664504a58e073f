/**
 * The TUI's only views of the proxy: its ControlService (Connect over HTTP/2 h2c) and its SOCKS
 * port. Keeping to these two keeps the UI decoupled from the proxy's internals.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ControlService } from "../../../gen/meowonion/v1/control_pb.js";

/** The RPCs the TUI uses (tests may pass the full client; nothing else is needed). */
export type ControlClient = Pick<Client<typeof ControlService>, "getStatus" | "listCircuits" | "watchEvents">;

/** A ControlService client on one HTTP/2 connection, and a way to close that connection. */
export function createControlClient(controlUrl: string): { client: Client<typeof ControlService>; close(): void } {
  const sessionManager = new Http2SessionManager(controlUrl, { idleConnectionTimeoutMs: 60_000 });
  const transport = createConnectTransport({ baseUrl: controlUrl, httpVersion: "2", sessionManager });
  return {
    client: createClient(ControlService, transport),
    close: () => sessionManager.abort(),
  };
}
