/**
 * The commands a set-up runs, phase by phase: the virtual environment, the bundled server
 * wheel, llama.cpp (full set-up only: built portably, or a prebuilt wheel where pip finds
 * one), and a check that the installed server runs. Plain data, so it is easy to test and
 * to show in the log.
 */
import type { EnvironmentPaths, Variant } from './environment';

export type Phase = 'venv' | 'server' | 'llama' | 'check';

export interface Step {
  phase: Phase;
  /** For the progress notification: "Installing the server…". */
  title: string;
  command: string;
  args: string[];
  /** Added to the environment of the command. */
  env?: Record<string, string>;
}

/** What failed, in words ("creating the environment failed: …"). */
export const PHASE_NAMES: Record<Phase, string> = {
  venv: 'creating the environment',
  server: 'installing the server',
  llama: 'building llama.cpp',
  check: 'checking the installed server',
};

// CPU time of building llama-cpp-python 0.3 with -DGGML_NATIVE=OFF, measured once on this
// project's development machine (1292 CPU-seconds, compiler and all); divided among the
// cores, as ninja runs one compile per core. A busy machine takes longer (see the README).
const LLAMA_BUILD_CPU_MINUTES = 22;

/** "about 11 minutes on 2 CPU cores": the estimate shown while llama.cpp builds. */
export function llamaBuildEstimate(cpus: number): string {
  const minutes = Math.max(2, Math.round(LLAMA_BUILD_CPU_MINUTES / Math.max(1, Math.min(cpus, 16))));
  return `about ${minutes} minutes on ${cpus} CPU core${cpus === 1 ? '' : 's'}`;
}

/** CMAKE_ARGS for a portable llama.cpp (the native build crashes on other CPUs), keeping
 *  what the user set (e.g. -DGGML_CUDA=on) unless it chose GGML_NATIVE itself. */
export function portableCmakeArgs(existing: string | undefined): string {
  const current = (existing ?? '').trim();
  if (/GGML_NATIVE/.test(current)) return current;
  return `${current} -DGGML_NATIVE=OFF`.trim();
}

const PIP_INSTALL = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off'];

export interface PlanOptions {
  python: string;
  paths: EnvironmentPaths;
  wheel: string;
  variant: Variant;
  /** The environment exists already (a retry, or an upgrade): no new venv. */
  venvExists: boolean;
  cpus: number;
  env: Record<string, string | undefined>;
}

export function setupSteps(o: PlanOptions): Step[] {
  const steps: Step[] = [];
  if (!o.venvExists) {
    // --clear: what a cancelled or broken earlier attempt left there goes.
    steps.push({ phase: 'venv', title: `Creating a Python environment (${o.paths.venv})`, command: o.python, args: ['-m', 'venv', '--clear', o.paths.venv] });
  }
  steps.push({ phase: 'server', title: 'Installing the server and its dependencies', command: o.paths.python, args: [...PIP_INSTALL, o.wheel] });
  if (o.variant === 'full') {
    steps.push({
      phase: 'llama',
      title: `Building llama.cpp (${llamaBuildEstimate(o.cpus)}; a prebuilt wheel is used where pip finds one)`,
      command: o.paths.python,
      // The wheel's own [llama] extra names the llama-cpp-python it needs.
      args: [...PIP_INSTALL, '--prefer-binary', `${o.wheel}[llama]`],
      env: { CMAKE_ARGS: portableCmakeArgs(o.env.CMAKE_ARGS) },
    });
  }
  steps.push(checkStep(o.paths));
  return steps;
}

/** A newer bundled server over an existing environment (llama.cpp is kept when it fits). */
export function upgradeSteps(o: Omit<PlanOptions, 'python' | 'venvExists'>): Step[] {
  const target = o.variant === 'full' ? `${o.wheel}[llama]` : o.wheel;
  const env = o.variant === 'full' ? { CMAKE_ARGS: portableCmakeArgs(o.env.CMAKE_ARGS) } : undefined;
  return [
    { phase: 'server', title: 'Upgrading the server', command: o.paths.python, args: [...PIP_INSTALL, '--prefer-binary', target], env },
    checkStep(o.paths),
  ];
}

function checkStep(paths: EnvironmentPaths): Step {
  return { phase: 'check', title: 'Checking the installed server', command: paths.server, args: ['--version'] };
}
