/**
 * The implementation under test: where it is (given on the command line, printed by a --launch
 * command, or our own network started by the runner), what it declares (features), and the
 * relay details the tests need (onion keys, exit policies), looked up from the directory.
 */
import { readFileSync } from "node:fs";
import type { ExitPolicy } from "../gen/meowonion/v1/descriptor_pb.js";
import { hex, unhex } from "./lib/bytes.js";
import { directoryClient } from "./lib/directory-client.js";
import { decodeDescriptor } from "./lib/documents.js";
import { policyAllows } from "./lib/exit-policy.js";
import type { Feature } from "./framework.js";

export interface TargetRelay {
  host: string;
  port: number;
  identity: Uint8Array;
  onionKey?: Uint8Array;
  nickname?: string;
  exitPolicy?: ExitPolicy;
}

export interface ResolvedRelay extends TargetRelay {
  onionKey: Uint8Array;
}

export interface Features {
  declared: Partial<Record<Feature, boolean>>;
  /** Command for the vector-check protocol (README), if the implementation has one. */
  vectorCheck?: string;
}

export class Target {
  directory?: { url: string; key: Uint8Array };
  relays: TargetRelay[] = [];
  proxy?: { host: string; port: number };
  /** A ControlService (control.proto) base URL: the proxy's, or one of its own. */
  control?: string;
  features: Features = { declared: {} };
  private resolved: Promise<ResolvedRelay[]> | undefined;

  /** Whether a feature is on: declared in the features file, or inferred from what was given. */
  has(f: Feature): boolean {
    const d = this.features.declared[f];
    if (d !== undefined) return d;
    switch (f) {
      case "directory":
        return !!this.directory;
      case "relay":
      case "exit":
        return this.relays.length > 0;
      case "extend":
        return this.relays.length > 1;
      case "proxy":
      case "httpConnect":
        return !!this.proxy;
      case "vectorCheck":
        return !!this.features.vectorCheck;
      case "congestionControl":
      case "onionService":
      case "addOnionService":
        return false;
    }
  }

  /** Relays with onion keys and policies (from the launch lines or the directory's GetDescriptor). */
  resolveRelays(timeoutMs = 30_000): Promise<ResolvedRelay[]> {
    this.resolved ??= this.doResolve(timeoutMs);
    return this.resolved;
  }

  private async doResolve(timeoutMs: number): Promise<ResolvedRelay[]> {
    const out: ResolvedRelay[] = [];
    const dir = this.directory ? directoryClient(this.directory.url) : undefined;
    for (const r of this.relays) {
      if (r.onionKey && r.exitPolicy) {
        out.push(r as ResolvedRelay);
        continue;
      }
      if (!dir) {
        if (r.onionKey) out.push({ ...(r as ResolvedRelay) });
        continue;
      }
      const end = Date.now() + timeoutMs;
      let lastErr = "";
      for (;;) {
        try {
          const res = await dir.getDescriptor({ identityKey: r.identity });
          const d = decodeDescriptor(res.descriptor!);
          out.push({ ...r, onionKey: r.onionKey ?? d.ntorOnionKey, nickname: r.nickname ?? d.nickname, exitPolicy: r.exitPolicy ?? d.exitPolicy });
          break;
        } catch (e) {
          lastErr = (e as Error).message;
          if (Date.now() > end) throw new Error(`relay ${hex(r.identity).slice(0, 16)}… at ${r.host}:${r.port}: no descriptor at the directory after ${timeoutMs} ms (${lastErr})`);
          await new Promise((res) => setTimeout(res, 300));
        }
      }
    }
    return out;
  }

  /** A relay whose exit policy accepts 127.0.0.1:port. */
  async exitFor(port: number): Promise<ResolvedRelay | undefined> {
    return (await this.resolveRelays()).find((r) => policyAllows(r.exitPolicy, "127.0.0.1", port));
  }

  describe(): string {
    const parts: string[] = [];
    if (this.directory) parts.push(`directory ${this.directory.url} key ${hex(this.directory.key).slice(0, 16)}…`);
    for (const r of this.relays) parts.push(`relay ${r.host}:${r.port} ${hex(r.identity).slice(0, 16)}…`);
    if (this.proxy) parts.push(`proxy socks ${this.proxy.host}:${this.proxy.port}`);
    if (this.control) parts.push(`control ${this.control}`);
    return parts.join("\n");
  }
}

export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`expected HOST:PORT, got ${JSON.stringify(s)}`);
  return { host: m[1], port: Number(m[2]) };
}

export function parseKey(s: string, what: string): Uint8Array {
  const k = s.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(k)) throw new Error(`${what} must be 64 hex characters (32 bytes), got ${JSON.stringify(s)}`);
  return unhex(k);
}

/**
 * The launch line format (README "The --launch line format"): one line per thing, on stdout,
 * `conformance <kind> key=value ...`, ended by `conformance ready`.
 */
export function applyLaunchLine(target: Target, line: string): "ready" | "applied" | "ignored" {
  const m = /^conformance\s+(\S+)(.*)$/.exec(line.trim());
  if (!m) return "ignored";
  const kind = m[1];
  const kv: Record<string, string> = {};
  for (const part of m[2].trim().split(/\s+/).filter(Boolean)) {
    const i = part.indexOf("=");
    if (i > 0) kv[part.slice(0, i)] = part.slice(i + 1);
  }
  const need = (k: string) => {
    if (kv[k] === undefined) throw new Error(`launch line ${JSON.stringify(line)}: missing ${k}=`);
    return kv[k];
  };
  switch (kind) {
    case "ready":
      return "ready";
    case "directory":
      target.directory = { url: need("url").replace(/\/$/, ""), key: parseKey(need("key"), "directory key") };
      return "applied";
    case "relay": {
      const { host, port } = parseHostPort(need("addr"));
      target.relays.push({
        host,
        port,
        identity: parseKey(need("identity"), "relay identity"),
        onionKey: kv["onion-key"] ? parseKey(kv["onion-key"], "onion key") : undefined,
        nickname: kv.nickname,
      });
      return "applied";
    }
    case "proxy": {
      const { host, port } = parseHostPort(need("socks"));
      target.proxy = { host, port };
      if (kv.control) target.control = kv.control.replace(/\/$/, "");
      return "applied";
    }
    case "control":
      target.control = need("url").replace(/\/$/, "");
      return "applied";
    case "feature": {
      // One feature per line; the value is the rest of the line (it may hold spaces: a command).
      const fm = /^(\w+)=(.*)$/.exec(m[2].trim());
      if (!fm) throw new Error(`launch line ${JSON.stringify(line)}: expected feature NAME=VALUE`);
      setFeature(target.features, fm[1], fm[2].trim());
      return "applied";
    }
    default:
      throw new Error(`unknown launch line kind ${JSON.stringify(kind)} in ${JSON.stringify(line)}`);
  }
}

const FEATURES: Feature[] = ["directory", "relay", "exit", "extend", "proxy", "httpConnect", "congestionControl", "vectorCheck", "onionService", "addOnionService"];

export function setFeature(f: Features, k: string, v: unknown): void {
  if (k === "vectorCheck" && typeof v === "string" && v !== "true" && v !== "false") {
    f.vectorCheck = v;
    f.declared.vectorCheck = v.length > 0;
    return;
  }
  if (!FEATURES.includes(k as Feature)) throw new Error(`unknown feature ${JSON.stringify(k)} (known: ${FEATURES.join(", ")})`);
  f.declared[k as Feature] = v === true || v === "true" || v === "yes" || v === 1 || v === "1";
}

/** A features file: JSON, or YAML-ish `key: value` lines (# comments). */
export function loadFeatures(path: string, into: Features): void {
  const text = readFileSync(path, "utf8");
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(text);
  } catch {
    obj = {};
    for (const raw of text.split("\n")) {
      const line = raw.replace(/#.*$/, "").trim();
      if (!line) continue;
      const m = /^([A-Za-z]+)\s*:\s*(.*)$/.exec(line);
      if (!m) throw new Error(`${path}: cannot parse line ${JSON.stringify(raw)}`);
      let v: unknown = m[2].trim();
      if (typeof v === "string" && /^".*"$|^'.*'$/.test(v)) v = v.slice(1, -1);
      else if (v === "true" || v === "false") v = v === "true";
      obj[m[1]] = v;
    }
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k.startsWith("$") || k === "comment") continue;
    setFeature(into, k, v);
  }
}

/** A known-failures file: one test id (or glob) per line, # comments. */
export function loadKnownFailures(path: string): string[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter(Boolean);
}
