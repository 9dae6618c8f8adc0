/**
 * Runs a set-up's steps in order, reporting each phase and every output line, and stops at
 * the first failure (explained) or at Cancel. No VS Code here: the flow (flow.ts) shows it.
 */
import { explainFailure, type FailureKind } from './failure';
import type { Cancellation, RunOptions, RunResult } from './process';
import type { Phase, Step } from './steps';

export type InstallOutcome =
  | { status: 'done'; elapsedMs: number }
  | { status: 'cancelled'; phase: Phase }
  | { status: 'failed'; phase: Phase; kind: FailureKind; message: string };

export interface InstallReporter {
  step(step: Step, index: number, total: number): void;
  line(line: string): void;
}

export type Runner = (command: string, args: string[], opts: RunOptions) => Promise<RunResult>;

export async function runSteps(steps: Step[], run: Runner, report: InstallReporter, cancel?: Cancellation): Promise<InstallOutcome> {
  const started = Date.now();
  for (const [index, step] of steps.entries()) {
    if (cancel?.isCancellationRequested) return { status: 'cancelled', phase: step.phase };
    report.step(step, index, steps.length);
    report.line(`$ ${[step.command, ...step.args].join(' ')}${step.env ? `   (${Object.entries(step.env).map(([k, v]) => `${k}=${v}`).join(' ')})` : ''}`);
    const result = await run(step.command, step.args, { env: step.env, onLine: report.line, cancel });
    if (result.cancelled) return { status: 'cancelled', phase: step.phase };
    if (result.code !== 0 || result.spawnError) {
      const failure = explainFailure(step, result);
      report.line(`failed: ${failure.message}`);
      return { status: 'failed', phase: step.phase, ...failure };
    }
  }
  return { status: 'done', elapsedMs: Date.now() - started };
}
