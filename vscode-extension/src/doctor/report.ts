/**
 * The doctor's report when the server cannot answer `starcoder/doctor` itself: the CLI's
 * arguments for the same settings (`starcoder-lsp doctor …`), and, with no server at all,
 * the extension's own findings in the server report's format.
 */
import type { ServerCommand } from '../server';

/** Server settings (camelCase, as sent at launch) -> `starcoder-lsp doctor` flags. */
const FLAGS: Record<string, string> = {
  model: '--model',
  backend: '--backend',
  endpoint: '--endpoint',
  endpointModel: '--endpoint-model',
  completionModel: '--completion-model',
  nCtx: '--n-ctx',
  nGpuLayers: '--n-gpu-layers',
  nThreads: '--n-threads',
  modelsDir: '--models-dir',
};

/** The command line that runs the doctor with the program the search found. */
export function doctorCommand(server: ServerCommand, settings: Record<string, unknown>): { command: string; args: string[]; env: Record<string, string> } {
  const viaPython = server.source === 'python-setting' || server.source === 'python-extension';
  const args = [...(viaPython ? ['-m', 'lsp_server'] : []), 'doctor', '--format', 'markdown'];
  for (const [key, flag] of Object.entries(FLAGS)) {
    const value = settings[key];
    if (value === undefined || value === null || value === '') continue;
    args.push(flag, String(value));
  }
  const env: Record<string, string> = {};
  if (typeof settings.apiKey === 'string' && settings.apiKey) env.STARCODER_API_KEY = settings.apiKey;
  return { command: server.command, args, env };
}

export interface Finding {
  ok: boolean;
  name: string;
  detail: string;
  fix?: string;
}

/** A report in the server's Markdown format (✔/✘ lines, the fix under a ✘). */
export function findingsMarkdown(findings: Finding[], intro = ''): string {
  const failed = findings.filter((f) => !f.ok);
  const summary = failed.length
    ? `${failed.length} check${failed.length > 1 ? 's' : ''} failed: ${failed.map((f) => f.name).join(', ')}.`
    : 'All checks passed.';
  const lines = ['# StarCoder doctor', '', `**${summary}**`, ''];
  if (intro) lines.push(intro, '');
  for (const f of findings) {
    lines.push(`- ${f.ok ? '✔' : '✘'} **${f.name}**: ${f.detail}`);
    if (!f.ok && f.fix) lines.push(`  - **Fix:** ${f.fix}`);
  }
  return `${lines.join('\n')}\n`;
}
