/**
 * A minimal Tor ControlPort client (control-spec): commands with their replies in order,
 * asynchronous 650 events to listeners. Enough for AUTHENTICATE, GETINFO, SETEVENTS, EXTENDCIRCUIT,
 * CLOSECIRCUIT, SIGNAL and ADD_ONION.
 */
import { connect, type Socket } from "node:net";
import { readFileSync } from "node:fs";

export interface ControlReply {
  /** Status code of the final line, e.g. 250. */
  code: number;
  /** Text of every line (after "250-"/"250 "/"250+"), data blocks joined with "\n". */
  lines: string[];
}

/**
 * Incremental parser of control replies. Feed it text; it calls onReply for each complete
 * reply and onEvent for each complete asynchronous (650) event.
 */
export class ControlParser {
  private buf = "";
  private lines: string[] = [];
  private inData = false;
  private dataLines: string[] = [];

  constructor(
    private readonly onReply: (r: ControlReply) => void,
    private readonly onEvent: (r: ControlReply) => void,
  ) {}

  push(text: string): void {
    this.buf += text;
    for (;;) {
      const nl = this.buf.indexOf("\r\n");
      if (nl < 0) return;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 2);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (this.inData) {
      if (line === ".") {
        this.inData = false;
        this.lines[this.lines.length - 1] += "\n" + this.dataLines.join("\n");
        this.dataLines = [];
      } else {
        this.dataLines.push(line.startsWith("..") ? line.slice(1) : line);
      }
      return;
    }
    const code = Number(line.slice(0, 3));
    const sep = line[3];
    this.lines.push(line.slice(4));
    if (sep === "+") {
      this.inData = true;
      return;
    }
    if (sep === " ") {
      const reply = { code, lines: this.lines };
      this.lines = [];
      if (code === 650) this.onEvent(reply);
      else this.onReply(reply);
    }
  }
}

export class TorControl {
  private pending: { resolve: (r: ControlReply) => void; reject: (e: Error) => void }[] = [];
  private listeners = new Set<(e: ControlReply) => void>();
  private closed: Error | undefined;
  /** Event types asked for so far: SETEVENTS replaces the whole set, so each call sends them all. */
  private readonly events = new Set<string>();
  private eventsSet: Promise<void> = Promise.resolve();

  private constructor(private readonly sock: Socket) {
    const parser = new ControlParser(
      (r) => this.pending.shift()?.resolve(r),
      (e) => {
        for (const l of this.listeners) l(e);
      },
    );
    sock.setEncoding("utf8");
    sock.setNoDelay(true);
    sock.on("data", (t: string) => parser.push(t));
    const fail = (e: Error): void => {
      this.closed = e;
      for (const p of this.pending.splice(0)) p.reject(e);
    };
    sock.on("error", fail);
    sock.on("close", () => fail(new Error("control connection closed")));
  }

  static async open(host: string, port: number, cookieFile?: string): Promise<TorControl> {
    const sock = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", reject);
    });
    const ctl = new TorControl(sock);
    const cookie = cookieFile ? readFileSync(cookieFile).toString("hex") : '""';
    await ctl.ok(`AUTHENTICATE ${cookie}`);
    return ctl;
  }

  command(line: string): Promise<ControlReply> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.sock.write(line + "\r\n");
    });
  }

  /** Send a command; throw unless it answers 250. */
  async ok(line: string): Promise<ControlReply> {
    const r = await this.command(line);
    if (r.code !== 250) throw new Error(`tor control: '${line.split(" ")[0]}' failed: ${r.code} ${r.lines.join(" | ")}`);
    return r;
  }

  /** GETINFO key → value. */
  async getinfo(key: string): Promise<string> {
    const r = await this.ok(`GETINFO ${key}`);
    const first = r.lines[0] ?? "";
    const eq = first.indexOf("=");
    return eq >= 0 ? first.slice(eq + 1) : first;
  }

  /** Also receive these asynchronous events (in addition to those asked for before). */
  addEvents(...names: string[]): Promise<void> {
    if (names.some((n) => !this.events.has(n))) {
      for (const n of names) this.events.add(n);
      this.eventsSet = this.ok(`SETEVENTS ${[...this.events].join(" ")}`).then(() => undefined);
    }
    return this.eventsSet;
  }

  onEvent(listener: (e: ControlReply) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** "NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=..." → 100 (or -1). */
export function bootstrapProgress(phase: string): number {
  const m = /PROGRESS=(\d+)/.exec(phase);
  return m ? Number(m[1]) : -1;
}
