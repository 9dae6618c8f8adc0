// Builds the .vsix: `npm run package` -> starcoder-lsp-<version>.vsix in this folder.
//
// The .vsix carries the language server as a wheel (server/starcoder_lsp-<v>-py3-none-any.whl),
// built here from the repository, so "Set up StarCoder" installs the server that matches the
// extension without any download of the server itself. The wheel is built from a copy of
// the Python sources in a temporary folder (no build/ or *.egg-info left in the repo).
// Python: $STARCODER_PYTHON, else <repo>/.venv/bin/python, else python3.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(root, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const out = join(root, `${pkg.name}-${pkg.version}.vsix`);
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');

function python() {
  if (process.env.STARCODER_PYTHON) return process.env.STARCODER_PYTHON;
  const venv = join(repo, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
  return existsSync(venv) ? venv : process.platform === 'win32' ? 'python' : 'python3';
}

/** Builds the server wheel into server/ (replacing an older one) and returns its name. */
function buildServerWheel() {
  const serverDir = join(root, 'server');
  const work = mkdtempSync(join(tmpdir(), 'starcoder-wheel-'));
  try {
    for (const item of ['pyproject.toml', 'README.md', 'lsp_server', 'model']) {
      cpSync(join(repo, item), join(work, item), {
        recursive: true,
        filter: (src) => !/(__pycache__|\.pyc$|\.egg-info)/.test(src),
      });
    }
    const dist = join(work, 'dist');
    const pip = ['-m', 'pip', 'wheel', '--no-deps', '--disable-pip-version-check', '--wheel-dir', dist, work];
    try {
      // Offline when setuptools is at hand; else pip fetches the build backend.
      execFileSync(python(), [...pip.slice(0, 3), '--no-build-isolation', ...pip.slice(3)], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch {
      execFileSync(python(), pip, { stdio: ['ignore', 'inherit', 'inherit'] });
    }
    const wheel = readdirSync(dist).find((f) => /^starcoder_lsp-.*\.whl$/.test(f));
    if (!wheel) throw new Error(`no starcoder_lsp wheel was built in ${dist}`);
    rmSync(serverDir, { recursive: true, force: true });
    mkdirSync(serverDir, { recursive: true });
    cpSync(join(dist, wheel), join(serverDir, wheel));
    return wheel;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const wheel = buildServerWheel();
console.log(`server wheel: server/${wheel}`);
execFileSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--out', out], {
  cwd: root,
  stdio: 'inherit',
});
console.log(out);
