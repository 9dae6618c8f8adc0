/**
 * Which Python creates the server's private environment: `starcoder.server.python`, the
 * Python extension's interpreter, then `python3` (and `python`) on PATH; the first one that
 * is 3.10 or newer and has the venv module. When none is, the message says what was found.
 */
import { execFile } from 'node:child_process';
import { isExecutable, whichOnPath } from '../server';

export const MIN_PYTHON: readonly [number, number] = [3, 10];

export interface PythonCandidate {
  python: string;
  /** Where it came from, for messages. */
  label: string;
}

export type ProbeResult = { ok: true; version: string; venv: boolean } | { ok: false; error: string };

export type PythonChoice = { ok: true; python: string; version: string; label: string } | { ok: false; message: string };

/** Prints "3.11.7 1": the version, and 1 when venv and ensurepip import (Debian splits them off). */
export const PROBE_SCRIPT = [
  'import sys',
  'try:',
  '    import ensurepip, venv',
  '    ok = 1',
  'except ImportError:',
  '    ok = 0',
  "print('%d.%d.%d %d' % (sys.version_info[:3] + (ok,)))",
].join('\n');

export function parseProbe(stdout: string): { version: string; venv: boolean } | undefined {
  const m = /(\d+\.\d+\.\d+) ([01])\s*$/.exec(stdout.trim());
  return m ? { version: m[1], venv: m[2] === '1' } : undefined;
}

export function versionAtLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map((p) => parseInt(p, 10) || 0);
  for (let i = 0; i < min.length; i++) {
    const have = parts[i] ?? 0;
    if (have !== min[i]) return have > min[i];
  }
  return true;
}

/** The candidates in the order they are tried (duplicates dropped). */
export function pythonCandidates(opts: {
  setting?: string;
  extension?: string;
  onPath: (program: string) => string | undefined;
  platform: NodeJS.Platform;
}): PythonCandidate[] {
  const out: PythonCandidate[] = [];
  const add = (python: string | undefined, label: string): void => {
    if (python && python.trim() && !out.some((c) => c.python === python)) out.push({ python: python.trim(), label });
  };
  add(opts.setting, 'starcoder.server.python');
  add(opts.extension, 'the Python extension');
  for (const program of opts.platform === 'win32' ? ['python', 'py'] : ['python3', 'python']) {
    add(opts.onPath(program), `${program} on PATH`);
  }
  return out;
}

/** The first usable candidate, else a message naming each one found and its version. */
export async function choosePython(candidates: PythonCandidate[], probe: (python: string) => Promise<ProbeResult>): Promise<PythonChoice> {
  const found: string[] = [];
  for (const candidate of candidates) {
    const result = await probe(candidate.python);
    const where = `${candidate.python} (${candidate.label})`;
    if (!result.ok) {
      found.push(`${where} does not run: ${result.error}`);
    } else if (!versionAtLeast(result.version, MIN_PYTHON)) {
      found.push(`${where} is Python ${result.version}`);
    } else if (!result.venv) {
      found.push(`${where} is Python ${result.version} without its venv module (Debian/Ubuntu: sudo apt install python3-venv)`);
    } else {
      return { ok: true, python: candidate.python, version: result.version, label: candidate.label };
    }
  }
  const seen = found.length ? `Found: ${found.join('; ')}.` : 'No Python was found (starcoder.server.python, the Python extension, python3 on PATH).';
  return {
    ok: false,
    message: `setting up StarCoder needs Python ${MIN_PYTHON.join('.')} or newer. ${seen} Install Python 3.10+ and set starcoder.server.python to it.`,
  };
}

/** Runs the probe script with a real interpreter. */
export function probePython(python: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE_SCRIPT], { timeout: 20_000, windowsHide: true }, (err, stdout, stderr) => {
      const parsed = parseProbe(String(stdout));
      if (parsed) resolve({ ok: true, ...parsed });
      else resolve({ ok: false, error: String(stderr || err?.message || 'no output').trim().split('\n').pop() ?? 'failed' });
    });
  });
}

/** A program on this process's PATH. */
export function findOnPath(program: string): string | undefined {
  return whichOnPath(program, { env: process.env, platform: process.platform, isExecutable });
}
