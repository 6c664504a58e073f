/**
 * Fuzz harness shared by the short pass in `npm test` (test/fuzz/decoders.test.ts) and the long
 * soak (`npm run soak`, test/fuzz/soak.ts). A target is a decoder plus an input generator; the
 * property is the same everywhere:
 *   - the decoder returns, or throws one of the module's TYPED errors (never TypeError,
 *     RangeError, a protobuf-es internal error, ...);
 *   - what it returns satisfies the target's invariants (checked by `run` itself);
 *   - no single input takes longer than `perInputMs` (a hang or a pathological slow path).
 */
import fc from "fast-check";

export interface FuzzTarget<T = unknown> {
  /** Short stable name, used on the command line of the soak. */
  name: string;
  /** What is fuzzed, for the report. */
  description: string;
  arbitrary: fc.Arbitrary<T>;
  /**
   * Feed one input to the decoder. Return normally for an accepted input (after checking any
   * invariants), throw for a refusal: the error is then checked with `typed`.
   */
  run(input: T): void | Promise<void>;
  /** True if `error` is one of the module's documented, typed refusals. */
  typed(error: unknown): boolean;
  /**
   * Recognises failures already reported as bugs in another module ,
   * each pinned by a failing test in test/fuzz/regressions.test.ts: returns the bug id. They
   * are counted (and printed by the soak) instead of stopping the run, so that fuzzing keeps
   * looking for NEW bugs until those are fixed.
   */
  knownBug?(error: unknown): string | undefined;
  /** Set up shared state (servers, keys) once before the runs; returns a teardown. */
  setup?(): Promise<(() => Promise<void>) | void>;
  /** Inputs per run are expensive (network, crypto): the soak may use fewer workers. */
  async?: boolean;
  /** Upper bound for one input, milliseconds (default 1000). */
  perInputMs?: number;
  /** The soak splits this target over this many workers (slow targets, e.g. over HTTP). */
  soakShards?: number;
  /** Cap on inputs for the short pass (for expensive targets), if lower than asked. */
  shortRunsCap?: number;
}

export interface FuzzStats {
  name: string;
  runs: number;
  accepted: number;
  typedErrors: number;
  maxInputMs: number;
  durationMs: number;
  /** Error kinds seen (class name + reason/code), with counts. */
  errorKinds: Record<string, number>;
  /** Inputs that hit an already-reported bug, by bug id. */
  knownBugs: Record<string, number>;
}

export class UntypedError extends Error {
  override readonly name = "UntypedError";
}

export class SlowInputError extends Error {
  override readonly name = "SlowInputError";
}

/** A short label for an error: class name plus its `reason` or `code` if any. */
export function errorKind(error: unknown): string {
  if (error instanceof Error) {
    const e = error as Error & { reason?: unknown; code?: unknown };
    const detail = e.reason ?? e.code;
    return detail === undefined ? e.name : `${e.name}:${String(detail)}`;
  }
  return typeof error;
}

export interface RunOptions {
  runs: number;
  seed?: number;
  /** Called every `progressEvery` inputs with the count so far (soak watchdog). */
  onProgress?: (done: number) => void;
  progressEvery?: number;
}

/**
 * Run `target` for `runs` inputs. Throws (with fast-check's shrunk counterexample and seed) on
 * the first untyped error, broken invariant or slow input.
 */
export async function runTarget<T>(target: FuzzTarget<T>, options: RunOptions): Promise<FuzzStats> {
  const teardown = target.setup ? await target.setup() : undefined;
  const stats: FuzzStats = {
    name: target.name,
    runs: 0,
    accepted: 0,
    typedErrors: 0,
    maxInputMs: 0,
    durationMs: 0,
    errorKinds: {},
    knownBugs: {},
  };
  const limit = target.perInputMs ?? 1000;
  const every = options.progressEvery ?? 10_000;
  const started = performance.now();
  const check = (error: unknown, elapsed: number, input: T): void => {
    stats.runs++;
    if (elapsed > stats.maxInputMs) stats.maxInputMs = elapsed;
    if (options.onProgress && stats.runs % every === 0) options.onProgress(stats.runs);
    if (elapsed > limit) {
      throw new SlowInputError(`${target.name}: one input took ${elapsed.toFixed(1)} ms three times in a row (limit ${limit} ms)`);
    }
    if (error === undefined) {
      stats.accepted++;
      return;
    }
    const bug = target.knownBug?.(error);
    if (bug !== undefined) {
      stats.knownBugs[bug] = (stats.knownBugs[bug] ?? 0) + 1;
      return;
    }
    if (!target.typed(error)) {
      const wrapped = new UntypedError(
        `${target.name}: untyped error ${errorKind(error)}: ${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
      void input;
      throw wrapped;
    }
    stats.typedErrors++;
    const kind = errorKind(error);
    stats.errorKinds[kind] = (stats.errorKinds[kind] ?? 0) + 1;
  };
  try {
    const params = {
      numRuns: options.runs,
      seed: options.seed,
      // Inputs are independent and failures are reported with the seed; shrinking the first
      // failure is enough.
      endOnFailure: true,
    };
    if (target.async) {
      await fc.assert(
        fc.asyncProperty(target.arbitrary, async (input) => {
          const once = async (): Promise<{ failure: unknown; ms: number }> => {
            const t0 = performance.now();
            try {
              await target.run(input);
              return { failure: undefined, ms: performance.now() - t0 };
            } catch (error) {
              return { failure: error ?? new Error("thrown undefined"), ms: performance.now() - t0 };
            }
          };
          let { failure, ms } = await once();
          // A slow input is re-timed twice: only one that is slow every time counts (a GC pause
          // or a busy machine is not a hang; a real hang is caught by the soak's watchdog).
          for (let i = 0; i < 2 && ms > limit; i++) ms = Math.min(ms, (await once()).ms);
          check(failure, ms, input);
        }),
        params,
      );
    } else {
      fc.assert(
        fc.property(target.arbitrary, (input) => {
          const once = (): { failure: unknown; ms: number } => {
            const t0 = performance.now();
            try {
              const result = target.run(input);
              if (result instanceof Promise) throw new Error(`${target.name} is async but not marked async`);
              return { failure: undefined, ms: performance.now() - t0 };
            } catch (error) {
              return { failure: error ?? new Error("thrown undefined"), ms: performance.now() - t0 };
            }
          };
          let { failure, ms } = once();
          for (let i = 0; i < 2 && ms > limit; i++) ms = Math.min(ms, once().ms);
          check(failure, ms, input);
        }),
        params,
      );
    }
  } catch (error) {
    // fast-check's message has the seed and the shrunk input; the reason is in its cause.
    const cause = (error as Error).cause as Error | undefined;
    const reason = cause ? `${cause.name}: ${cause.message}` : "";
    throw new Error(`${reason}\n${(error as Error).message}`, { cause: error });
  } finally {
    stats.durationMs = performance.now() - started;
    if (typeof teardown === "function") await teardown();
  }
  return stats;
}
