import fc from 'fast-check';
import { startWindow, type Window } from '../bench/stats.js';

/** How many inputs a target runs: `runs`, or as many as fit in `timeLimitMs` when given. */
export interface Budget {
  readonly runs: number;
  readonly timeLimitMs: number | undefined;
  readonly seed: number;
}

/** What one target did, for the report. */
export interface TargetResult {
  readonly name: string;
  /** How inputs were made and delivered, one line each. */
  readonly method: readonly string[];
  readonly inputs: number;
  readonly accepted: number;
  readonly rejected: number;
  /** Invariant failures (a thrown error, a wrong answer, a state change): each with its shrunk input. */
  readonly failures: readonly string[];
  /** Rejected inputs whose state change was checked (0 for targets without a store to change). */
  readonly stateChecked: number;
  readonly stateViolations: number;
  readonly window: Window;
}

/** Accepted and rejected counts; counting stops at the first failure, so shrinking does not inflate them. */
export class Tally {
  accepted = 0;
  rejected = 0;
  stateChecked = 0;
  stateViolations = 0;
  private frozen = false;

  accept(): void {
    if (!this.frozen) this.accepted++;
  }

  reject(): void {
    if (!this.frozen) this.rejected++;
  }

  checked(): void {
    if (!this.frozen) this.stateChecked++;
  }

  violation(): void {
    if (!this.frozen) this.stateViolations++;
  }

  /** The counts, for a TargetResult. */
  counts(): { accepted: number; rejected: number; stateChecked: number; stateViolations: number } {
    return { accepted: this.accepted, rejected: this.rejected, stateChecked: this.stateChecked, stateViolations: this.stateViolations };
  }

  /** Called when an input fails: what follows is fast-check shrinking it. */
  freeze(): void {
    if (!this.frozen) this.failedAt = Date.now();
    this.frozen = true;
  }

  /** Whether shrinking has had its time: further candidates are passed over, and the smallest failure so far is reported. */
  get shrinkingOver(): boolean {
    return this.failedAt !== undefined && Date.now() - this.failedAt > SHRINK_LIMIT_MS;
  }

  private failedAt: number | undefined;
}

/** How long one input of a live target may take to get its outcome. */
const INPUT_LIMIT_MS = 30_000;

/** How long fast-check may shrink a failing input (each candidate of a live target can take seconds to time out). */
const SHRINK_LIMIT_MS = 60_000;

/** An invariant that does not hold for an input: the property fails with this message. */
export class InvariantFailure extends Error {}

function parameters<T>(budget: Budget): fc.Parameters<[T]> {
  return {
    numRuns: budget.runs,
    seed: budget.seed,
    ...(budget.timeLimitMs !== undefined && { plugins: [fc.interruptAfterTimeLimit(budget.timeLimitMs)] }),
  };
}

function failureLines<T>(details: fc.RunDetails<[T]>, describe: (input: T) => string): string[] {
  if (!details.failed) return [];
  const input = details.counterexample?.[0];
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  return [
    `${error}\n  shrunk input (seed ${details.seed}, path "${details.counterexamplePath ?? ''}", after ${details.numShrinks} shrinks):\n  ${input === undefined ? '(none)' : describe(input)}`,
  ];
}

/** Runs a synchronous property over `budget` inputs; a failing input is shrunk and described. */
export function checkSync<T>(arb: fc.Arbitrary<T>, predicate: (input: T) => void, budget: Budget, tally: Tally, describe: (input: T) => string) {
  const done = startWindow();
  const details = fc.check(
    fc.property(arb, (input) => {
      if (tally.shrinkingOver) return;
      try {
        predicate(input);
      } catch (err) {
        tally.freeze();
        throw err;
      }
    }),
    parameters<T>(budget),
  );
  return { inputs: details.numRuns, failures: failureLines(details, describe), window: done() };
}

/** Runs an asynchronous property over `budget` inputs, one input at a time. */
export async function checkAsync<T>(
  arb: fc.Arbitrary<T>,
  predicate: (input: T) => Promise<void>,
  budget: Budget,
  tally: Tally,
  describe: (input: T) => string,
) {
  const done = startWindow();
  const details = await fc.check(
    fc.asyncProperty(arb, async (input) => {
      if (tally.shrinkingOver) return;
      let timer: NodeJS.Timeout | undefined;
      // An input that never gets an answer fails instead of hanging the campaign.
      const watchdog = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new InvariantFailure(`no outcome within ${INPUT_LIMIT_MS / 1000} s`)), INPUT_LIMIT_MS);
      });
      try {
        await Promise.race([predicate(input), watchdog]);
      } catch (err) {
        tally.freeze();
        throw err;
      } finally {
        clearTimeout(timer);
      }
    }),
    parameters<T>(budget),
  );
  return { inputs: details.numRuns, failures: failureLines(details, describe), window: done() };
}
