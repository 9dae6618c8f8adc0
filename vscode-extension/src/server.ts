/**
 * Finding and launching the starcoder-lsp server.
 *
 * The order, as documented in the README:
 *  1. the `starcoder.server.path` setting (a `starcoder-lsp` program);
 *  2. `python -m lsp_server` with the `starcoder.server.python` interpreter, or else with the
 *     interpreter selected in the Python extension when it is installed (only when that
 *     interpreter can import `lsp_server`);
 *  3. `starcoder-lsp` on PATH;
 *  4. the server that "Set up StarCoder" installed in the extension's own environment.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SERVER_PROGRAM = 'starcoder-lsp';
export const INSTALL_HINT =
  'Install it with: pip install "starcoder-lsp[llama]" (from a clone of the repository: pip install -e ".[llama]"), ' +
  'then set starcoder.server.path to the starcoder-lsp program, or starcoder.server.python ' +
  'to the Python interpreter it was installed into.';

export type ServerSource = 'setting' | 'python-setting' | 'python-extension' | 'path' | 'setup';

export interface ServerCommand {
  command: string;
  args: string[];
  source: ServerSource;
  /** Human-readable description for the log. */
  description: string;
}

export interface LaunchConfig {
  path?: string;
  python?: string;
  args?: string[];
  /** Workspace folder used to expand `${workspaceFolder}` in paths. */
  workspaceFolder?: string;
  /** The `starcoder-lsp` of a finished "Set up StarCoder", if any. */
  managed?: string;
}

export interface FindDeps {
  isExecutable(file: string): boolean;
  exists(file: string): boolean;
  /** True when `python -c "import lsp_server"` works; else a reason. */
  canImport(python: string): Promise<true | string>;
  /** The Python extension's selected interpreter, if that extension is installed. */
  pythonExtensionInterpreter(): Promise<string | undefined>;
  env: Record<string, string | undefined>;
  platform: NodeJS.Platform;
  homedir: string;
}

export type FindResult =
  | { ok: true; server: ServerCommand; notes: string[] }
  /** `setting`: starcoder.server.path is wrong; `not-found`: nothing anywhere (offer the set-up). */
  | { ok: false; message: string; notes: string[]; reason: 'setting' | 'not-found' };

/** Expands `~` and `${workspaceFolder}`/`${userHome}`/`${env:NAME}` in a configured path. */
export function expandPath(
  value: string,
  opts: { workspaceFolder?: string; homedir: string; env: Record<string, string | undefined> },
): string {
  let out = value.trim();
  out = out.replace(/\$\{workspaceFolder\}/g, opts.workspaceFolder ?? '');
  out = out.replace(/\$\{userHome\}/g, opts.homedir);
  out = out.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => opts.env[name] ?? '');
  if (out === '~') out = opts.homedir;
  else if (out.startsWith('~/')) out = path.join(opts.homedir, out.slice(2));
  if (!path.isAbsolute(out) && opts.workspaceFolder && /[\\/]/.test(out)) {
    out = path.join(opts.workspaceFolder, out);
  }
  return out;
}

/** Looks a program up on PATH (with PATHEXT on Windows). */
export function whichOnPath(program: string, deps: Pick<FindDeps, 'env' | 'platform' | 'isExecutable'>): string | undefined {
  const pathVar = deps.env.PATH ?? deps.env.Path ?? '';
  const sep = deps.platform === 'win32' ? ';' : ':';
  const exts =
    deps.platform === 'win32' ? ['', ...(deps.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';').map((e) => e.toLowerCase())] : [''];
  const join = deps.platform === 'win32' ? path.win32.join : path.posix.join;
  for (const dir of pathVar.split(sep)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = join(dir, program + ext);
      if (deps.isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

export async function findServer(config: LaunchConfig, deps: FindDeps): Promise<FindResult> {
  const notes: string[] = [];
  const extra = config.args ?? [];
  const expand = (value: string): string =>
    expandPath(value, { workspaceFolder: config.workspaceFolder, homedir: deps.homedir, env: deps.env });

  // 1. starcoder.server.path
  if (config.path && config.path.trim()) {
    const file = expand(config.path);
    const resolved = path.isAbsolute(file) ? file : whichOnPath(file, deps);
    if (resolved && deps.isExecutable(resolved)) {
      return {
        ok: true,
        server: { command: resolved, args: ['--stdio', ...extra], source: 'setting', description: `${resolved} (starcoder.server.path)` },
        notes,
      };
    }
    return {
      ok: false,
      message:
        `The StarCoder language server set in starcoder.server.path (${file}) ` +
        (resolved && deps.exists(resolved) ? 'is not executable.' : 'does not exist.') +
        ' Fix the setting or clear it to search for the server.',
      notes,
      reason: 'setting',
    };
  }

  // 2. python -m lsp_server
  const candidates: { python: string; source: ServerSource; label: string }[] = [];
  if (config.python && config.python.trim()) {
    candidates.push({ python: expand(config.python), source: 'python-setting', label: 'starcoder.server.python' });
  } else {
    const selected = await deps.pythonExtensionInterpreter().catch(() => undefined);
    if (selected) candidates.push({ python: selected, source: 'python-extension', label: 'the Python extension' });
  }
  for (const candidate of candidates) {
    const result = await deps.canImport(candidate.python);
    if (result === true) {
      return {
        ok: true,
        server: {
          command: candidate.python,
          args: ['-m', 'lsp_server', '--stdio', ...extra],
          source: candidate.source,
          description: `${candidate.python} -m lsp_server (interpreter from ${candidate.label})`,
        },
        notes,
      };
    }
    notes.push(`${candidate.python} (from ${candidate.label}) cannot run the server: ${result}`);
  }

  // 3. starcoder-lsp on PATH
  const onPath = whichOnPath(SERVER_PROGRAM, deps);
  if (onPath) {
    return {
      ok: true,
      server: { command: onPath, args: ['--stdio', ...extra], source: 'path', description: `${onPath} (found on PATH)` },
      notes,
    };
  }
  notes.push(`${SERVER_PROGRAM} is not on PATH`);

  // 4. the set-up environment
  if (config.managed && deps.isExecutable(config.managed)) {
    return {
      ok: true,
      server: { command: config.managed, args: ['--stdio', ...extra], source: 'setup', description: `${config.managed} (Set up StarCoder)` },
      notes,
    };
  }
  notes.push('no server was set up by Set up StarCoder');
  return { ok: false, message: `The StarCoder language server was not found. ${INSTALL_HINT}`, notes, reason: 'not-found' };
}

/** A file this process may run. */
export function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return false;
    if (process.platform === 'win32') return true;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Dependencies backed by the real file system and processes. */
export function nodeDeps(pythonExtensionInterpreter: () => Promise<string | undefined>): FindDeps {
  return {
    isExecutable,
    exists: (file) => fs.existsSync(file),
    canImport: (python) =>
      new Promise((resolve) => {
        execFile(python, ['-c', 'import lsp_server'], { timeout: 20_000 }, (err, _stdout, stderr) => {
          if (!err) resolve(true);
          else {
            const last = String(stderr || err.message).trim().split('\n').pop() ?? String(err);
            resolve(last);
          }
        });
      }),
    pythonExtensionInterpreter,
    env: process.env,
    platform: process.platform,
    homedir: os.homedir(),
  };
}
