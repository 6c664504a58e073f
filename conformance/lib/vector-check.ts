/**
 * Client side of the vector-check protocol (README "The vector-check protocol"): the runner starts
 * the implementation's command, writes one JSON request per line on its stdin and reads one JSON
 * response per line on its stdout, matched by "id".
 */
import { createInterface } from "node:readline";
import { type Spawned, spawnGroup } from "./process.js";

export type VectorRequest = { op: string } & Record<string, unknown>;
export type VectorResponse = { id: number; unsupported?: boolean; error?: string } & Record<string, unknown>;

export class Unsupported extends Error {}

export class VectorChecker {
  private proc: Spawned;
  private nextId = 1;
  private pending = new Map<number, (r: VectorResponse) => void>();

  constructor(command: string, cwd?: string) {
    this.proc = spawnGroup(command, { cwd, stdin: "pipe" });
    createInterface({ input: this.proc.child.stdout! }).on("line", (line) => {
      let r: VectorResponse;
      try {
        r = JSON.parse(line);
      } catch {
        return;
      }
      const cb = this.pending.get(r.id);
      if (cb) {
        this.pending.delete(r.id);
        cb(r);
      }
    });
    this.proc.child.stdin!.on("error", () => {});
  }

  /** Send a request; resolves with the response, or rejects on timeout / exit. */
  call(req: VectorRequest, timeoutMs = 10_000): Promise<VectorResponse> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.proc.exited) return reject(new Error(`vector-check command exited (code ${this.proc.exitCode}): ${this.proc.stderrTail.slice(-3).join(" | ")}`));
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${req.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      this.proc.child.stdin!.write(JSON.stringify({ id, ...req }) + "\n");
    });
  }

  /** Like call, but throws Unsupported when the implementation does not support the op. */
  async require(req: VectorRequest, timeoutMs?: number): Promise<VectorResponse> {
    const r = await this.call(req, timeoutMs);
    if (r.unsupported) throw new Unsupported(`the implementation does not support op ${req.op}`);
    return r;
  }

  async close(): Promise<void> {
    this.proc.child.stdin?.end();
    await new Promise((r) => setTimeout(r, 50));
    await this.proc.stop(1000);
  }
}
