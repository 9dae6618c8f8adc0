/**
 * "StarCoder: Doctor": the server's own report (`starcoder/doctor`) as Markdown beside the
 * code. When the server runs but cannot start, the same report comes from its CLI
 * (`starcoder-lsp doctor`); with no server at all, the extension reports what it searched
 * and what "Set up StarCoder" would use.
 */
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import type { BaseLanguageClient } from 'vscode-languageclient';
import { PreviewContentProvider } from '../preview';
import { REQ_DOCTOR, parseDoctorResult } from '../protocol';
import type { FindResult, ServerCommand } from '../server';
import type { SetupFlow } from '../setup/flow';
import { choosePython, findOnPath, probePython, pythonCandidates } from '../setup/python';
import { type Finding, doctorCommand, findingsMarkdown } from './report';

export const DOCTOR_SCHEME = 'starcoder-doctor';
const CLI_TIMEOUT_MS = 300_000;

export type DoctorOutcome =
  | { status: 'shown'; source: 'server' | 'cli' | 'extension'; ok: boolean; markdown: string; uri: string }
  | { status: 'error'; message: string };

export interface DoctorHost {
  /** The running client, starting the server if it can. */
  client(): Promise<BaseLanguageClient | undefined>;
  /** The program the last search found (set even when it then failed to start). */
  serverCommand(): ServerCommand | undefined;
  /** The search again, for its notes. */
  find(): Promise<FindResult>;
  /** The settings the server gets (camelCase) and its extra environment. */
  settings(): Record<string, unknown>;
  serverEnv(): Record<string, string>;
  setup: SetupFlow;
  log(message: string): void;
}

export class DoctorFlow implements vscode.Disposable {
  readonly docs = new PreviewContentProvider();
  private readonly registration: vscode.Disposable;
  private counter = 0;

  constructor(private readonly host: DoctorHost) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(DOCTOR_SCHEME, this.docs);
  }

  dispose(): void {
    this.docs.dispose();
    this.registration.dispose();
  }

  /** The `starcoder.doctor` command. */
  async run(): Promise<DoctorOutcome> {
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'StarCoder: running the doctor…' },
      () => this.report(),
    );
    if ('message' in report) {
      void vscode.window.showErrorMessage(`StarCoder: the doctor failed: ${report.message}`);
      return { status: 'error', message: report.message };
    }
    const uri = vscode.Uri.from({ scheme: DOCTOR_SCHEME, path: `/StarCoder doctor ${++this.counter}.md` });
    this.docs.set(uri, report.markdown);
    try {
      await vscode.commands.executeCommand('markdown.showPreview', uri);
    } catch {
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri), { preview: true });
    }
    this.host.log(`doctor (${report.source}): ${report.ok ? 'all checks passed' : 'a check failed'}`);
    return { status: 'shown', ...report, uri: uri.toString() };
  }

  private async report(): Promise<{ source: 'server' | 'cli' | 'extension'; ok: boolean; markdown: string } | { message: string }> {
    const client = await this.host.client();
    if (client) {
      try {
        const result = parseDoctorResult(await client.sendRequest(REQ_DOCTOR, {}));
        return { source: 'server', ok: result.ok, markdown: result.markdown };
      } catch (err) {
        this.host.log(`starcoder/doctor failed (${err instanceof Error ? err.message : String(err)}); running the CLI instead`);
      }
    }
    const server = this.host.serverCommand();
    if (server) return this.fromCli(server);
    return { source: 'extension', ...(await this.extensionReport()) };
  }

  /** `starcoder-lsp doctor --format markdown` with the same program and settings. */
  private fromCli(server: ServerCommand): Promise<{ source: 'cli' | 'extension'; ok: boolean; markdown: string }> {
    const { command, args, env } = doctorCommand(server, this.host.settings());
    this.host.log(`doctor: ${command} ${args.join(' ')}`);
    return new Promise((resolve) => {
      execFile(command, args, { timeout: CLI_TIMEOUT_MS, env: { ...process.env, ...this.host.serverEnv(), ...env, PYTHONIOENCODING: 'utf-8' }, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
        const markdown = String(stdout);
        if (markdown.startsWith('# StarCoder doctor')) {
          resolve({ source: 'cli', ok: !err, markdown });
          return;
        }
        const why = String(stderr || err?.message || 'no output').trim().split('\n').slice(-3).join(' ');
        const findings: Finding[] = [
          { ok: false, name: 'server', detail: `${server.description} does not run: ${why}`, fix: 'run Set up StarCoder to install a working server, or fix starcoder.server.path / starcoder.server.python' },
        ];
        resolve({ source: 'extension', ok: false, markdown: findingsMarkdown(findings) });
      });
    });
  }

  /** No server: what was searched, and what a set-up would use. */
  private async extensionReport(): Promise<{ ok: boolean; markdown: string }> {
    const found = await this.host.find();
    const cfg = vscode.workspace.getConfiguration('starcoder');
    const findings: Finding[] = [
      {
        ok: false,
        name: 'server',
        detail: `not found (${found.notes.join('; ') || 'searched starcoder.server.path, starcoder.server.python, PATH'})`,
        fix: 'run **Set up StarCoder** (Command Palette), or install it yourself: pip install "starcoder-lsp[llama]" and set starcoder.server.path',
      },
    ];
    const bundle = this.host.setup.bundled();
    findings.push(
      bundle
        ? { ok: true, name: 'bundled server', detail: `starcoder-lsp ${bundle.version} comes with the extension (${bundle.wheel})` }
        : { ok: false, name: 'bundled server', detail: 'this copy of the extension carries no server wheel', fix: 'install the .vsix built by npm run package' },
    );
    const python = await choosePython(
      pythonCandidates({ setting: cfg.get<string>('server.python'), onPath: findOnPath, platform: process.platform }),
      probePython,
    );
    findings.push(
      python.ok
        ? { ok: true, name: 'Python', detail: `Python ${python.version} (${python.python}, ${python.label}) for the set-up` }
        : { ok: false, name: 'Python', detail: python.message, fix: 'install Python 3.10 or newer and set starcoder.server.python to it' },
    );
    return { ok: false, markdown: findingsMarkdown(findings, 'No StarCoder language server runs, so these are the extension\'s own checks.') };
  }
}
