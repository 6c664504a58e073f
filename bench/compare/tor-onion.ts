/**
 * Tor's own onion service for the comparison: ADD_ONION on a client's ControlPort (what apps
 * such as OnionShare do, and what our AddOnionService mirrors), then the HS_DESC events until
 * the descriptor is on the HSDirs.
 */
import type { OnionServicePortSpec } from "./onion-service.js";
import type { ControlReply, TorControl } from "./tor-control.js";

/** One `HS_DESC` event (control-spec 4.1.25): what happened to which service's descriptor at which HSDir. */
export interface HsDescEvent {
  action: string;
  /** The service's address without ".onion". */
  address: string;
  hsDir: string;
  reason?: string;
}

/** `HS_DESC Action HSAddress AuthType HsDir [DescriptorID] [REASON=…] …`, or undefined for another event. */
export function parseHsDescEvent(line: string): HsDescEvent | undefined {
  const m = /^HS_DESC (\w+) (\S+) \S+ (\S+)(.*)$/.exec(line);
  if (!m) return undefined;
  const reason = /\bREASON=(\S+)/.exec(m[4]!)?.[1];
  return { action: m[1]!, address: m[2]!, hsDir: m[3]!, ...(reason ? { reason } : {}) };
}

/** `Port=VIRTUAL,HOST:PORT` arguments of ADD_ONION. */
export function addOnionCommand(ports: OnionServicePortSpec[]): string {
  if (ports.length === 0) throw new Error("an onion service needs a port");
  // DiscardPK: the key is not needed again (the service lives as long as this network).
  return `ADD_ONION NEW:ED25519-V3 Flags=DiscardPK ${ports.map((p) => `Port=${p.virtualPort},${p.target}`).join(" ")}`;
}

/**
 * Tracks one service's uploads: published once at least one HSDir has the descriptor and no
 * upload that was started is still unanswered (the service uploads to all responsible HSDirs
 * at once, so the next client finds it at whichever it asks).
 */
export class UploadTracker {
  readonly #pending = new Set<string>();
  readonly #failures: string[] = [];
  #uploaded = 0;

  constructor(readonly address: string) {}

  /** Feed an event; true once the descriptor is published. */
  see(event: HsDescEvent): boolean {
    if (event.address !== this.address) return this.published;
    if (event.action === "UPLOAD") this.#pending.add(event.hsDir);
    if (event.action === "UPLOADED" || event.action === "FAILED") {
      this.#pending.delete(event.hsDir);
      if (event.action === "UPLOADED") this.#uploaded++;
      else this.#failures.push(`${event.hsDir}: ${event.reason ?? "failed"}`);
    }
    return this.published;
  }

  get published(): boolean {
    return this.#uploaded > 0 && this.#pending.size === 0;
  }

  describe(): string {
    return `${this.#uploaded} uploaded, ${this.#pending.size} pending, failures: ${this.#failures.join("; ") || "none"}`;
  }
}

/** ADD_ONION a new v3 service; resolves with its address (no ".onion") once published. */
export async function addTorOnionService(control: TorControl, ports: OnionServicePortSpec[], timeoutMs: number): Promise<string> {
  await control.addEvents("HS_DESC");
  // Events may come before ADD_ONION's reply names the service: keep them until then.
  const early: HsDescEvent[] = [];
  let tracker: UploadTracker | undefined;
  let wake: (() => void) | undefined;
  const off = control.onEvent((e: ControlReply) => {
    const event = parseHsDescEvent(e.lines[0] ?? "");
    if (!event) return;
    if (tracker) {
      if (tracker.see(event)) wake?.();
    } else {
      early.push(event);
    }
  });
  try {
    const reply = await control.ok(addOnionCommand(ports));
    const id = reply.lines.map((l) => /^ServiceID=([a-z2-7]{56})$/.exec(l)?.[1]).find((x) => x !== undefined);
    if (!id) throw new Error(`ADD_ONION: no ServiceID in ${reply.lines.join(" | ")}`);
    const t = new UploadTracker(id);
    for (const event of early) t.see(event);
    tracker = t;
    if (!t.published) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`tor's onion service not published within ${timeoutMs} ms (${t.describe()})`)), timeoutMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return id;
  } finally {
    off();
  }
}
