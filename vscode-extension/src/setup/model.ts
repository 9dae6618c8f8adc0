/**
 * After a set-up: whether the model still has to be downloaded, from the installed
 * server's own list (`starcoder-lsp models --json`: presets, sizes, what is on disk). The
 * download itself is the server's first-use download, with its progress in the status bar.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';

export interface ModelsListing {
  modelsDir: string;
  default: string;
  presets: { name: string; kind: string; gguf: { quant: string; filename: string; sizeGb: number }[]; local: string[] }[];
}

export interface ModelSettings {
  model: string;
  endpoint: string;
  backend: string;
}

export interface PendingDownload {
  name: string;
  sizeGb: number;
  filename: string;
}

/** The preset GGUF the settings name that is not on disk yet; undefined when none is due
 *  (a served model, a local file, a hub id, or already downloaded). */
export function modelToDownload(listing: ModelsListing, settings: ModelSettings): PendingDownload | undefined {
  if (settings.endpoint.trim() || settings.backend === 'openai' || settings.backend === 'transformers') return undefined;
  const model = settings.model.trim() || listing.default;
  const [base, quant] = model.split(':');
  const preset = listing.presets.find((p) => p.name === base.trim().toLowerCase());
  if (!preset) return undefined;
  const file = (quant && preset.gguf.find((g) => g.quant === quant.trim().toUpperCase())) || preset.gguf[0];
  if (!file || preset.local.some((p) => path.basename(p) === file.filename)) return undefined;
  return { name: model, sizeGb: file.sizeGb, filename: file.filename };
}

export function parseListing(stdout: string): ModelsListing | undefined {
  try {
    const data = JSON.parse(stdout);
    return Array.isArray(data?.presets) && typeof data.default === 'string' ? (data as ModelsListing) : undefined;
  } catch {
    return undefined;
  }
}

/** Asks the installed server (`<python> -m lsp_server models --json`). */
export function listModels(python: string, env: Record<string, string | undefined>): Promise<ModelsListing | undefined> {
  return new Promise((resolve) => {
    execFile(python, ['-m', 'lsp_server', 'models', '--json'], { timeout: 30_000, env: { ...process.env, ...env }, windowsHide: true }, (err, stdout) =>
      resolve(err ? undefined : parseListing(String(stdout))),
    );
  });
}
