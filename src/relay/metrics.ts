/**
 * Relay metrics. Hot-path figures (cells, bytes) are plain numbers bumped by the switch and
 * copied into prom-client counters only when scraped: a labelled Counter.inc per cell would
 * cost more than forwarding the cell. Rare events (handshakes, errors) go to prom-client
 * directly. One Registry per relay, so several in-process relays do not share figures.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Registry } from "prom-client";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import type { EdgeCounters } from "../edge/stream-edge.js";

export class RelayMetrics implements EdgeCounters {
  readonly registry = new Registry();
  cellsIn = 0;
  cellsOut = 0;
  /** Stream payload bytes at this exit: from destinations, to destinations. */
  bytesFromTargets = 0;
  bytesToTargets = 0;
  circuits = 0;
  streams = 0;
  /** Reads the number of open links (set by the relay). */
  links: () => number = () => 0;
  queuedBytes = 0;
  /** 1 when a verified consensus lists this relay's current descriptor. */
  listed = 0;

  readonly handshakes = new Counter({
    name: "meowonion_relay_handshakes_total",
    help: "ntor server handshakes, by result",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly circuitsCreated = new Counter({
    name: "meowonion_relay_circuits_created_total",
    help: "Circuits created at this relay (CREATE2 answered)",
    registers: [this.registry],
  });
  readonly circuitsDestroyed = new Counter({
    name: "meowonion_relay_circuits_destroyed_total",
    help: "Circuits torn down, by the DESTROY reason this relay decided or received",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly streamsOpened = new Counter({
    name: "meowonion_relay_streams_opened_total",
    help: "Exit streams connected",
    registers: [this.registry],
  });
  readonly streamsEnded = new Counter({
    name: "meowonion_relay_streams_ended_total",
    help: "Exit streams ended, by END reason sent",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly linkErrors = new Counter({
    name: "meowonion_relay_link_errors_total",
    help: "Links closed on a protocol or socket error",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  constructor() {
    this.#lazyCounter("meowonion_relay_cells_in_total", "Link frames received (all circuits)", () => this.cellsIn);
    this.#lazyCounter("meowonion_relay_cells_out_total", "RELAY frames sent", () => this.cellsOut);
    this.#lazyCounter("meowonion_relay_exit_bytes_read_total", "Bytes read from exit destinations", () => this.bytesFromTargets);
    this.#lazyCounter("meowonion_relay_exit_bytes_written_total", "Bytes written to exit destinations", () => this.bytesToTargets);
    this.#gauge("meowonion_relay_links", "Links open", () => this.links());
    this.#gauge("meowonion_relay_circuits", "Circuits open", () => this.circuits);
    this.#gauge("meowonion_relay_streams", "Exit streams open", () => this.streams);
    this.#gauge("meowonion_relay_listed", "1 if a verified consensus lists the current descriptor", () => this.listed);
    this.#gauge("meowonion_relay_queued_bytes", "Bytes queued in circuit queues and exit stream buffers", () => this.queuedBytes);
  }

  destroyed(reason: DestroyReason): void {
    this.circuitsDestroyed.inc({ reason: DestroyReason[reason] ?? String(reason) });
  }

  opened(): void {
    this.streamsOpened.inc();
  }

  ended(reason: EndReason): void {
    this.streamsEnded.inc({ reason: EndReason[reason] ?? String(reason) });
  }

  #lazyCounter(name: string, help: string, read: () => number): void {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        const now = read();
        this.inc(now - reported);
        reported = now;
      },
    });
  }

  #gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}

/** Serves GET /metrics (Prometheus text) on host:port; resolves with the bound port. */
export async function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
