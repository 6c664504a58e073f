/**
 * Bootstrap progress, as Tor reports it: a phase (waiting for a consensus, building the first
 * circuit, done) and a percentage, moving forward only; `done` resolves when the first
 * circuit opens.
 */
import { BootstrapPhase } from "../../gen/meowonion/v1/control_pb.js";

/** Progress per phase, as Tor reports a percentage. */
export const BOOTSTRAP_PERCENT: Record<BootstrapPhase, number> = {
  [BootstrapPhase.UNSPECIFIED]: 0,
  [BootstrapPhase.CONSENSUS]: 10,
  [BootstrapPhase.CIRCUIT]: 50,
  [BootstrapPhase.DONE]: 100,
};

export class Bootstrap {
  #phase = BootstrapPhase.CONSENSUS;
  /** Resolves when the phase reaches DONE. */
  readonly done: Promise<void>;
  #markDone!: () => void;

  constructor() {
    this.done = new Promise((resolve) => (this.#markDone = resolve));
  }

  get phase(): BootstrapPhase {
    return this.#phase;
  }

  get percent(): number {
    return BOOTSTRAP_PERCENT[this.#phase];
  }

  /** Moves to `phase` if it is ahead (never back); true if it moved. */
  advance(phase: BootstrapPhase): boolean {
    if (phase <= this.#phase) return false;
    this.#phase = phase;
    if (phase === BootstrapPhase.DONE) this.#markDone();
    return true;
  }
}
