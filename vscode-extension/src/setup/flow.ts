/**
 * "Set up StarCoder" in VS Code: offered when no server is found; a progress notification
 * per phase (Cancel stops pip), the full log in the StarCoder output, a failure said plainly
 * with Retry; then the server is restarted from the new environment and the model download
 * is offered. On activation, a newer bundled server upgrades that environment (asked).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  type BundledServer,
  type EnvironmentPaths,
  type Marker,
  type Variant,
  environmentPaths,
  findBundledServer,
  readMarker,
  upgradeAvailable,
  writeMarker,
} from './environment';
import { type InstallOutcome, runSteps } from './installer';
import { listModels, modelToDownload } from './model';
import { runCommand } from './process';
import { type PythonChoice, choosePython, findOnPath, probePython, pythonCandidates } from './python';
import { type Step, llamaBuildEstimate, setupSteps, upgradeSteps } from './steps';

export const SET_UP = 'Set up StarCoder';

export type SetupOutcome =
  | { status: 'done'; variant: Variant; version: string; python: string; server: string; elapsedMs: number }
  | { status: 'cancelled'; phase: string }
  | { status: 'failed'; phase: string; kind: string; message: string }
  | { status: 'dismissed' };

export interface SetupArgs {
  variant?: Variant;
  /** Ask about the model download afterwards (default true). */
  askModel?: boolean;
}

export interface SetupHost {
  storageDir: string | undefined;
  extensionPath: string | undefined;
  output: vscode.LogOutputChannel;
  restartServer(): Promise<void>;
  stopServer(): Promise<void>;
  pythonExtensionInterpreter(): Promise<string | undefined>;
}

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('starcoder');
}

export class SetupFlow {
  private running: Promise<SetupOutcome> | undefined;
  private offered = false;

  constructor(private readonly host: SetupHost) {}

  get paths(): EnvironmentPaths | undefined {
    return this.host.storageDir ? environmentPaths(this.host.storageDir) : undefined;
  }

  bundled(): BundledServer | undefined {
    return this.host.extensionPath ? findBundledServer(this.host.extensionPath) : undefined;
  }

  marker(): Marker | undefined {
    return this.paths && readMarker(this.paths);
  }

  /** The server program of a finished set-up (the last place the server is looked for). */
  managedServer(): string | undefined {
    const paths = this.paths;
    return paths && this.marker() && fs.existsSync(paths.server) ? paths.server : undefined;
  }

  /** Whether this build can set up a server (it carries the wheel). */
  get canSetUp(): boolean {
    return !!this.paths && !!this.bundled();
  }

  /** No server was found: say so, offering the set-up first. */
  offer(output: () => void): void {
    if (this.offered) return;
    this.offered = true;
    const text =
      `StarCoder needs its language server, which was not found. "${SET_UP}" installs it into a private environment ` +
      '(a few minutes; building llama.cpp takes longest). Or install it yourself: pip install "starcoder-lsp[llama]" ' +
      'and set starcoder.server.path.';
    void vscode.window.showInformationMessage(text, SET_UP, 'Open Setting', 'Show Output').then((choice) => {
      this.offered = false;
      if (choice === SET_UP) void vscode.commands.executeCommand('starcoder.setup');
      else if (choice === 'Open Setting') void vscode.commands.executeCommand('workbench.action.openSettings', 'starcoder.server.path');
      else if (choice === 'Show Output') output();
    });
  }

  /** The `starcoder.setup` command. One set-up at a time. */
  run(args: SetupArgs = {}): Promise<SetupOutcome> {
    if (!this.running) {
      this.running = this.setUp(args).finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async setUp(args: SetupArgs): Promise<SetupOutcome> {
    const paths = this.paths;
    const bundle = this.bundled();
    if (!paths || !bundle) {
      const message = 'this copy of the extension carries no server to install (it was not built with npm run package).';
      void vscode.window.showErrorMessage(`StarCoder: ${message}`);
      return { status: 'failed', phase: 'bundle', kind: 'other', message };
    }
    const variant = args.variant ?? (await this.pickVariant());
    if (!variant) return { status: 'dismissed' };
    const log = this.host.output;
    log.info(`set-up (${variant}): server ${bundle.version} from ${bundle.wheel} into ${paths.venv}`);
    const python = await this.findPython();
    if (!python.ok) return this.failed(args, variant, { status: 'failed', phase: 'python', kind: 'python', message: python.message });
    log.info(`set-up: ${python.python} (${python.label}), Python ${python.version}`);
    const venvReady = fs.existsSync(paths.python) && (await runCommand(paths.python, ['-m', 'pip', '--version'])).code === 0;
    const steps = setupSteps({ python: python.python, paths, wheel: bundle.wheel, variant, venvExists: venvReady, cpus: os.cpus().length, env: process.env });
    await this.host.stopServer();
    const outcome = await this.withProgress('StarCoder set-up', steps);
    if (outcome.status !== 'done') return this.failed(args, variant, outcome);
    writeMarker(paths, { version: bundle.version, variant, python: python.python, pythonVersion: python.version, installedAt: new Date().toISOString() });
    log.info(`set-up done in ${Math.round(outcome.elapsedMs / 1000)} s: ${paths.server}`);
    await this.host.restartServer();
    void vscode.window.showInformationMessage(`StarCoder is set up: server ${bundle.version} in ${paths.venv}.`);
    if (args.askModel !== false) void this.afterSetUp(variant, paths);
    return { status: 'done', variant, version: bundle.version, python: python.python, server: paths.server, elapsedMs: outcome.elapsedMs };
  }

  private async findPython(): Promise<PythonChoice> {
    const candidates = pythonCandidates({
      setting: config().get<string>('server.python'),
      extension: await this.host.pythonExtensionInterpreter().catch(() => undefined),
      onPath: findOnPath,
      platform: process.platform,
    });
    return choosePython(candidates, probePython);
  }

  private async pickVariant(): Promise<Variant | undefined> {
    const teamServer = !!config().get<string>('endpoint')?.trim();
    const full = {
      label: 'Full',
      description: 'run the model on this machine',
      detail: `The server and llama.cpp (compiled: ${llamaBuildEstimate(os.cpus().length)}), then the model (asked first).`,
      variant: 'full' as const,
    };
    const thin = {
      label: 'Thin',
      description: 'use a team server (starcoder.endpoint)',
      detail: 'The server only, without llama.cpp: about a minute.',
      variant: 'thin' as const,
    };
    const choice = await vscode.window.showQuickPick(teamServer ? [thin, full] : [full, thin], {
      title: SET_UP,
      placeHolder: 'Where will the model run?',
      ignoreFocusOut: true,
    });
    return choice?.variant;
  }

  /** Runs the steps under a cancellable notification, one message per phase. */
  private withProgress(title: string, steps: Step[]): Promise<InstallOutcome> {
    const log = this.host.output;
    return Promise.resolve(
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
        const outcome = await runSteps(
          steps,
          runCommand,
          {
            step: (step, index, total) => {
              progress.report({ message: `${index + 1}/${total}: ${step.title}…`, increment: index ? 100 / total : 0 });
              log.info(`set-up ${index + 1}/${total}: ${step.title}`);
            },
            line: (line) => log.info(`  ${line}`),
          },
          token,
        );
        if (outcome.status === 'done') progress.report({ message: 'Done.', increment: 100 / steps.length });
        return outcome;
      }),
    );
  }

  private failed(args: SetupArgs, variant: Variant, outcome: Exclude<InstallOutcome, { status: 'done' }> | Extract<SetupOutcome, { status: 'failed' }>): SetupOutcome {
    const log = this.host.output;
    const retry = (choice: string | undefined): void => {
      if (choice === 'Retry') void this.run({ ...args, variant });
      else if (choice === 'Show Log') log.show(true);
      else if (choice === 'Open Setting') void vscode.commands.executeCommand('workbench.action.openSettings', 'starcoder.server.python');
    };
    if (outcome.status === 'cancelled') {
      log.warn(`set-up cancelled while ${outcome.phase}`);
      void vscode.window.showWarningMessage(`StarCoder: the set-up was cancelled (${outcome.phase}).`, 'Retry').then(retry);
      return outcome;
    }
    log.error(`set-up failed: ${outcome.message}`);
    const buttons = outcome.phase === 'python' ? ['Retry', 'Open Setting'] : ['Retry', 'Show Log'];
    void vscode.window.showErrorMessage(`StarCoder: ${outcome.message}`, ...buttons).then(retry);
    return outcome;
  }

  /** Then the model: offer its download (the server's own, with progress) or an endpoint. */
  private async afterSetUp(variant: Variant, paths: EnvironmentPaths): Promise<void> {
    const cfg = config();
    if (variant === 'thin') {
      if (cfg.get<string>('endpoint')?.trim()) return;
      const choice = await vscode.window.showInformationMessage('StarCoder (thin set-up): set starcoder.endpoint to your team server.', 'Open Setting');
      if (choice === 'Open Setting') void vscode.commands.executeCommand('workbench.action.openSettings', 'starcoder.endpoint');
      return;
    }
    const modelsDir = cfg.get<string>('modelsDir')?.trim();
    const env = { ...(cfg.get<Record<string, string>>('server.env') ?? {}), ...(modelsDir ? { STARCODER_MODELS_DIR: modelsDir } : {}) };
    const listing = await listModels(paths.python, env);
    const pending =
      listing &&
      modelToDownload(listing, { model: cfg.get<string>('model') ?? '', endpoint: cfg.get<string>('endpoint') ?? '', backend: cfg.get<string>('backend') ?? 'auto' });
    if (!pending) return;
    const choice = await vscode.window.showInformationMessage(
      `StarCoder needs its model, ${pending.name}: a ${pending.sizeGb.toFixed(1)} GB download into ${listing.modelsDir}. Download it now? (Otherwise the first edit starts it.)`,
      'Download',
      'Later',
    );
    if (choice === 'Download') void vscode.commands.executeCommand('starcoder.loadModel');
  }

  /** On activation: a newer bundled server than the set-up installed is offered as an upgrade. */
  async checkUpgrade(): Promise<'none' | 'declined' | SetupOutcome> {
    const paths = this.paths;
    const marker = this.marker();
    const bundle = this.bundled();
    if (!paths || !marker || !bundle || !upgradeAvailable(marker, bundle)) return 'none';
    const choice = await vscode.window.showInformationMessage(
      `StarCoder: this extension brings server ${bundle.version}; the set-up environment has ${marker.version}. Upgrade it now?`,
      'Upgrade',
      'Not Now',
    );
    if (choice !== 'Upgrade') return 'declined';
    await this.host.stopServer();
    const steps = upgradeSteps({ paths, wheel: bundle.wheel, variant: marker.variant, cpus: os.cpus().length, env: process.env });
    const outcome = await this.withProgress('StarCoder upgrade', steps);
    if (outcome.status !== 'done') {
      const result = this.failed({ askModel: false }, marker.variant, outcome);
      await this.host.restartServer();
      return result;
    }
    writeMarker(paths, { ...marker, version: bundle.version, installedAt: new Date().toISOString() });
    await this.host.restartServer();
    void vscode.window.showInformationMessage(`StarCoder: the server is upgraded to ${bundle.version}.`);
    return { status: 'done', variant: marker.variant, version: bundle.version, python: marker.python, server: paths.server, elapsedMs: outcome.elapsedMs };
  }
}
