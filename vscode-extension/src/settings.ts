/**
 * The extension's settings (`starcoder.*`), how they map to the server's settings, and
 * which of them apply live and which need a restart of the server.
 *
 * Every setting contributed in package.json is listed here (a unit test checks both agree).
 */

/** When a change takes effect. */
export type Apply =
  /** Sent to the running server (workspace/didChangeConfiguration); used for the next request. */
  | 'live'
  /** Read by the server when it loads the model: the server is restarted to apply it. */
  | 'restart'
  /** How the client launches the server: the server is restarted to apply it. */
  | 'launch'
  /** Used only by the extension itself, live. */
  | 'client';

export interface SettingSpec {
  /** Key below `starcoder.` in VS Code. */
  key: string;
  apply: Apply;
  /** Key in the server's settings object (camelCase, as `lsp_server/settings.py` accepts). */
  server?: string;
  /** Value that means "the server's own default": not sent. */
  omitIf?: unknown;
}

export const SETTINGS: readonly SettingSpec[] = [
  // Model and backend: read when the model loads.
  { key: 'model', apply: 'restart', server: 'model', omitIf: '' },
  { key: 'backend', apply: 'restart', server: 'backend' },
  { key: 'endpoint', apply: 'restart', server: 'endpoint' },
  { key: 'endpointModel', apply: 'restart', server: 'endpointModel' },
  { key: 'apiKey', apply: 'live', server: 'apiKey', omitIf: '' },
  { key: 'completionModel', apply: 'restart', server: 'completionModel' },
  { key: 'nCtx', apply: 'restart', server: 'nCtx' },
  { key: 'nGpuLayers', apply: 'restart', server: 'nGpuLayers' },
  { key: 'nThreads', apply: 'restart', server: 'nThreads' },
  { key: 'modelsDir', apply: 'restart', server: 'modelsDir' },
  { key: 'fastDecode', apply: 'restart', server: 'fastDecode' },
  { key: 'loadOnStart', apply: 'restart', server: 'loadOnStart' },
  // Generation: applied live.
  { key: 'maxTokens', apply: 'live', server: 'maxTokens' },
  { key: 'temperature', apply: 'live', server: 'temperature' },
  { key: 'speculative', apply: 'live', server: 'speculative' },
  { key: 'contextTokens', apply: 'live', server: 'contextTokens' },
  { key: 'requestTimeout', apply: 'live', server: 'requestTimeout' },
  { key: 'queueSize', apply: 'live', server: 'queueSize' },
  { key: 'inlineCompletion', apply: 'live', server: 'inlineCompletion' },
  { key: 'completionMaxTokens', apply: 'live', server: 'completionMaxTokens' },
  { key: 'completionDebounceMs', apply: 'live', server: 'completionDebounceMs' },
  { key: 'completionTimeBudgetMs', apply: 'live', server: 'completionTimeBudgetMs' },
  { key: 'instructionPrefixes', apply: 'live', server: 'instructionPrefixes' },
  // Validation: applied live.
  { key: 'validate', apply: 'live', server: 'validate' },
  { key: 'validateCandidates', apply: 'live', server: 'validateCandidates' },
  { key: 'validatePython', apply: 'live', server: 'validatePython', omitIf: '' },
  { key: 'validateProjectTests', apply: 'live', server: 'validateProjectTests' },
  // How the server is launched.
  { key: 'server.path', apply: 'launch' },
  { key: 'server.python', apply: 'launch' },
  { key: 'server.args', apply: 'launch' },
  { key: 'server.env', apply: 'launch' },
  // The extension itself.
  { key: 'preview', apply: 'client' },
  { key: 'trace.server', apply: 'client' },
];

export const SECTION = 'starcoder';

/** Reads one setting below `starcoder.` (e.g. `vscode.workspace.getConfiguration('starcoder').get`). */
export type Getter = (key: string) => unknown;

/** The settings object sent to the server (initializationOptions, workspace/configuration). */
export function serverSettings(get: Getter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    if (!spec.server) continue;
    const value = get(spec.key);
    if (value === undefined || value === null) continue;
    if (spec.omitIf !== undefined && value === spec.omitIf) continue;
    if (typeof value === 'string') {
      const trimmed = value.trim();
      if (spec.omitIf !== undefined && trimmed === spec.omitIf) continue;
      out[spec.server] = trimmed;
    } else {
      out[spec.server] = value;
    }
  }
  return out;
}

export interface ChangeSummary {
  /** Changed settings sent live to the server. */
  live: string[];
  /** Changed settings that need a restart of the server (model or launch settings). */
  restart: string[];
  /** Changed settings used only by the extension. */
  client: string[];
}

/** Sorts the settings a configuration change touches by when they take effect. */
export function classifyChange(affects: (section: string) => boolean): ChangeSummary {
  const summary: ChangeSummary = { live: [], restart: [], client: [] };
  for (const spec of SETTINGS) {
    if (!affects(`${SECTION}.${spec.key}`)) continue;
    const name = `${SECTION}.${spec.key}`;
    if (spec.apply === 'live') summary.live.push(name);
    else if (spec.apply === 'client') summary.client.push(name);
    else summary.restart.push(name);
  }
  return summary;
}

/** Redacts secrets for logging. */
export function redacted(settings: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...settings };
  if (copy.apiKey) copy.apiKey = '***';
  return copy;
}

/**
 * The settings object for the running server: live settings as they are now, restart
 * settings as they were when the server started (they apply at the next restart, which
 * the user is asked for, so the server does not reload the model behind their back).
 */
export function runningServerSettings(current: Record<string, unknown>, launched: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    if (!spec.server) continue;
    const source = spec.apply === 'live' ? current : launched;
    if (spec.server in source) out[spec.server] = source[spec.server];
  }
  return out;
}
