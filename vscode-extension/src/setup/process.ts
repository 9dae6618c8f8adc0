/**
 * Runs one set-up command (pip, venv) with its output streamed line by line to the log,
 * and stops it when cancelled: the whole process group on POSIX (pip's build of
 * llama.cpp runs cmake and compilers below it), the process tree on Windows.
 */
import { spawn } from 'node:child_process';

export interface Cancellation {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => unknown): { dispose(): unknown };
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  onLine?: (line: string) => void;
  cancel?: Cancellation;
  /** After SIGTERM, SIGKILL follows this much later. */
  killGraceMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  cancelled: boolean;
  /** The last lines of output (stdout and stderr), for the failure message. */
  tail: string[];
  /** Why the program could not start (ENOENT…). */
  spawnError?: string;
}

const TAIL_LINES = 200;

export function runCommand(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const tail: string[] = [];
    const push = (line: string): void => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      opts.onLine?.(line);
    };
    if (opts.cancel?.isCancellationRequested) {
      resolve({ code: null, signal: null, cancelled: true, tail });
      return;
    }
    const windows = process.platform === 'win32';
    const child = spawn(command, args, {
      env: { ...process.env, ...opts.env, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: !windows, // its own process group, stopped as a whole
      windowsHide: true,
    });
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      if (child.exitCode !== null || child.pid === undefined) return;
      cancelled = true;
      if (windows) {
        spawn('taskkill', ['/pid', String(child.pid), '/T', '/F'], { windowsHide: true });
        return;
      }
      const kill = (signal: NodeJS.Signals): void => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // already gone
        }
      };
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), opts.killGraceMs ?? 3000);
    };
    const subscription = opts.cancel?.onCancellationRequested(stop);
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (partial + chunk).split(/\r?\n|\r/);
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) push(line);
      });
      stream.on('end', () => {
        if (partial.trim()) push(partial);
        partial = '';
      });
    }
    let spawnError: string | undefined;
    child.on('error', (err) => {
      spawnError = err.message;
    });
    child.on('close', (code, signal) => {
      subscription?.dispose();
      if (killTimer) clearTimeout(killTimer);
      resolve({ code, signal, cancelled, tail, spawnError });
    });
  });
}
