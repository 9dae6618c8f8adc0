/**
 * `starcoder.preview`: how a proposed edit is reviewed before it lands.
 *
 * - `inline` (default): in the editor itself, hunk by hunk, with Accept / Reject code lenses;
 * - `diff`: in a diff editor beside the code, accepted or rejected as a whole;
 * - `off`: applied at once (Undo reverts it).
 *
 * The setting used to be a boolean. `true` meant "show the diff first", so it becomes
 * `diff` (what those users chose, unchanged); `false` meant "apply at once": `off`.
 * Booleans are still read that way, and rewritten as strings when the extension starts.
 */
import * as vscode from 'vscode';

export type PreviewMode = 'inline' | 'diff' | 'off';
export const PREVIEW_MODES: readonly PreviewMode[] = ['inline', 'diff', 'off'];
export const DEFAULT_PREVIEW: PreviewMode = 'inline';

/** The mode a value of `starcoder.preview` means (booleans as they used to). */
export function previewMode(value: unknown): PreviewMode {
  if (typeof value === 'string' && (PREVIEW_MODES as readonly string[]).includes(value)) return value as PreviewMode;
  if (value === true) return 'diff';
  if (value === false) return 'off';
  return DEFAULT_PREVIEW;
}

/** Rewrites boolean values of `starcoder.preview` (user and workspace settings) as strings.
 * Returns what it changed, for the log. */
export async function migratePreviewSetting(config: vscode.WorkspaceConfiguration): Promise<string[]> {
  const inspected = config.inspect<unknown>('preview');
  if (!inspected) return [];
  const targets: [unknown, vscode.ConfigurationTarget, string][] = [
    [inspected.globalValue, vscode.ConfigurationTarget.Global, 'user'],
    [inspected.workspaceValue, vscode.ConfigurationTarget.Workspace, 'workspace'],
  ];
  const changed: string[] = [];
  for (const [value, target, name] of targets) {
    if (typeof value !== 'boolean') continue;
    try {
      await config.update('preview', previewMode(value), target);
      changed.push(`${name} setting starcoder.preview: ${value} -> "${previewMode(value)}"`);
    } catch {
      // read-only settings: the boolean is still understood
    }
  }
  return changed;
}
