/**
 * The private environment "Set up StarCoder" creates in the extension's global storage, the
 * server wheel bundled in the .vsix, and the record the set-up leaves (which version, thin
 * or full) so that a newer bundled server can upgrade it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `full`: llama.cpp too (models on this machine); `thin`: for a team server (endpoint). */
export type Variant = 'full' | 'thin';

export interface EnvironmentPaths {
  venv: string;
  python: string;
  /** The `starcoder-lsp` program inside the environment. */
  server: string;
  marker: string;
}

export interface Marker {
  version: string;
  variant: Variant;
  python: string;
  pythonVersion: string;
  installedAt: string;
}

export interface BundledServer {
  wheel: string;
  version: string;
}

export const ENV_FOLDER = 'server-env';
export const MARKER_FILE = 'starcoder-setup.json';
export const WHEEL_PATTERN = /^starcoder_lsp-(\d[^-]*)-py3-none-any\.whl$/;

export function environmentPaths(storageDir: string, platform: NodeJS.Platform = process.platform): EnvironmentPaths {
  const join = platform === 'win32' ? path.win32.join : path.posix.join;
  const venv = join(storageDir, ENV_FOLDER);
  const bin = platform === 'win32' ? join(venv, 'Scripts') : join(venv, 'bin');
  const exe = platform === 'win32' ? '.exe' : '';
  return {
    venv,
    python: join(bin, `python${exe}`),
    server: join(bin, `starcoder-lsp${exe}`),
    marker: join(venv, MARKER_FILE),
  };
}

export function readMarker(paths: EnvironmentPaths): Marker | undefined {
  try {
    const data = JSON.parse(fs.readFileSync(paths.marker, 'utf8'));
    if (typeof data?.version === 'string' && (data.variant === 'full' || data.variant === 'thin')) return data as Marker;
  } catch {
    // none yet, or unreadable: treated as not set up
  }
  return undefined;
}

export function writeMarker(paths: EnvironmentPaths, marker: Marker): void {
  fs.mkdirSync(path.dirname(paths.marker), { recursive: true });
  fs.writeFileSync(paths.marker, `${JSON.stringify(marker, null, 2)}\n`);
}

/** The wheel `npm run package` put in `<extension>/server/`. */
export function findBundledServer(extensionPath: string, list: (dir: string) => string[] = (d) => fs.readdirSync(d)): BundledServer | undefined {
  const dir = path.join(extensionPath, 'server');
  let names: string[];
  try {
    names = list(dir);
  } catch {
    return undefined;
  }
  const wheels = names
    .map((name) => ({ name, m: WHEEL_PATTERN.exec(name) }))
    .filter((w): w is { name: string; m: RegExpExecArray } => w.m !== null)
    .sort((a, b) => compareVersions(b.m[1], a.m[1]));
  return wheels.length ? { wheel: path.join(dir, wheels[0].name), version: wheels[0].m[1] } : undefined;
}

/** Compares release versions (1.10.0 > 1.9.2; a pre-release suffix sorts before its release). */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): { nums: number[]; pre: string } => {
    const m = /^(\d+(?:\.\d+)*)(.*)$/.exec(v.trim());
    return { nums: (m?.[1] ?? '0').split('.').map(Number), pre: m?.[2] ?? '' };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.max(x.nums.length, y.nums.length); i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (!x.pre) return 1;
  if (!y.pre) return -1;
  return x.pre < y.pre ? -1 : 1;
}

/** Whether the bundled server is newer than the one the set-up installed. */
export function upgradeAvailable(marker: Marker | undefined, bundled: BundledServer | undefined): boolean {
  return !!marker && !!bundled && compareVersions(bundled.version, marker.version) > 0;
}
