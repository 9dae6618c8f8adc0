import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS, classifyChange, redacted, runningServerSettings, serverSettings } from '../../src/settings';

const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
const contributed: Record<string, { default?: unknown; markdownDescription?: string }> = Object.assign(
  {},
  ...pkg.contributes.configuration.map((c: { properties: object }) => c.properties),
);

describe('package.json and SETTINGS agree', () => {
  it('every contributed setting is known, and every known one contributed', () => {
    expect(Object.keys(contributed).sort()).toEqual(SETTINGS.map((s) => `starcoder.${s.key}`).sort());
  });

  it('descriptions say when a change applies', () => {
    for (const spec of SETTINGS) {
      const text = contributed[`starcoder.${spec.key}`].markdownDescription ?? '';
      if (spec.apply === 'restart' || spec.apply === 'launch') expect(text, spec.key).toMatch(/restart/);
      if (spec.apply === 'live') expect(text, spec.key).toMatch(/live/);
    }
  });
});

describe('the server understands every key it is sent', () => {
  let py = '';
  try {
    py = readFileSync(join(__dirname, '..', '..', '..', 'lsp_server', 'settings.py'), 'utf8');
  } catch {
    // extension built on its own
  }
  it.skipIf(!py)('is a Settings field or a camelCase alias in lsp_server/settings.py', () => {
    const fields = new Set([...py.matchAll(/^ {4}([a-z_]+): [^=]+=/gm)].map((m) => m[1]));
    const aliases = new Set([...py.matchAll(/^ {4}"([A-Za-z]+)": "[a-z_]+",/gm)].map((m) => m[1]));
    for (const spec of SETTINGS) {
      if (!spec.server) continue;
      expect(fields.has(spec.server) || aliases.has(spec.server), spec.server).toBe(true);
    }
  });
  it.skipIf(!py)('restart keys match the server RESTART_KEYS', () => {
    const block = /RESTART_KEYS = frozenset\(\s*\{([^}]*)\}/m.exec(py)?.[1] ?? '';
    const serverRestart = new Set([...block.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]));
    const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const spec of SETTINGS) {
      if (!spec.server || spec.key === 'loadOnStart') continue;
      expect(spec.apply === 'restart', spec.key).toBe(serverRestart.has(snake(spec.server)));
    }
  });
});

describe('serverSettings', () => {
  const defaults = Object.fromEntries(Object.entries(contributed).map(([k, v]) => [k.slice('starcoder.'.length), v.default]));

  it('sends every server setting, camelCase, but not client ones', () => {
    const out = serverSettings((k) => defaults[k]);
    expect(out.maxTokens).toBe(1024);
    expect(out.inlineCompletion).toBe(true);
    expect(out.instructionPrefixes).toContain('starcoder:');
    expect(Object.keys(out).some((k) => k.startsWith('server') || k === 'preview' || k.startsWith('trace'))).toBe(false);
  });

  it('leaves out an empty model and API key (the server defaults apply)', () => {
    const out = serverSettings((k) => defaults[k]);
    expect('model' in out).toBe(false);
    expect('apiKey' in out).toBe(false);
    expect(serverSettings((k) => (k === 'model' ? '  /m/tiny.gguf ' : undefined))).toEqual({ model: '/m/tiny.gguf' });
  });

  it('skips unset values', () => {
    expect(serverSettings(() => undefined)).toEqual({});
  });

  it('redacts the API key for logs', () => {
    expect(redacted({ apiKey: 'sk-1', model: 'x' })).toEqual({ apiKey: '***', model: 'x' });
  });
});

describe('classifyChange', () => {
  it('splits live, restart and client settings', () => {
    const changed = new Set(['starcoder.maxTokens', 'starcoder.model', 'starcoder.server.path', 'starcoder.preview']);
    expect(classifyChange((s) => changed.has(s))).toEqual({
      live: ['starcoder.maxTokens'],
      restart: ['starcoder.model', 'starcoder.server.path'],
      client: ['starcoder.preview'],
    });
  });
  it('is empty for other sections', () => {
    expect(classifyChange(() => false)).toEqual({ live: [], restart: [], client: [] });
  });
});

describe('runningServerSettings', () => {
  it('takes live settings now and restart settings from the launch', () => {
    const launched = { model: '/a.gguf', maxTokens: 10, backend: 'auto' };
    const current = { model: '/b.gguf', maxTokens: 99, temperature: 0.5 };
    expect(runningServerSettings(current, launched)).toEqual({ model: '/a.gguf', maxTokens: 99, temperature: 0.5, backend: 'auto' });
  });
});
