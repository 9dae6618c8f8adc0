/** Entry point: the language client, status bar, settings and commands. */
import * as vscode from 'vscode';
import type { BaseLanguageClient } from 'vscode-languageclient';
import { DidChangeConfigurationNotification, State } from 'vscode-languageclient';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { registerChat } from './chat';
import type { ChatController } from './chat/controller';
import { Commands } from './commands';
import type { EditOutcome } from './commands/edit';
import type { ExplainOutcome } from './commands/explain';
import { CommandArgs, SUPPORTED_SCHEMES } from './commands/target';
import { DoctorFlow } from './doctor';
import { InstructionHistory } from './history';
import { PreviewManager } from './preview';
import { CMD_EDIT, CMD_EXPLAIN, CMD_GENERATE, NOTIFY_STATUS, REQ_LOAD, REQ_STATUS, StatusParams, parseStatus } from './protocol';
import { CMD_ACCEPT_CHANGE, CMD_REJECT_CHANGE, CTX_REVIEW_ACTIVE, ReviewManager, migratePreviewSetting, previewMode } from './review';
import { FindResult, ServerCommand, findServer, nodeDeps } from './server';
import { SECTION, classifyChange, redacted, runningServerSettings, serverSettings } from './settings';
import { SetupArgs, SetupFlow } from './setup/flow';
import { ClientState, StatusBar } from './status';

export const EXTENSION_ID = 'starcoder-lsp.starcoder-lsp';

/** What `activate` returns: used by the extension's own tests and by other extensions. */
export interface StarCoderApi {
  client(): Promise<BaseLanguageClient | undefined>;
  commands: Commands;
  chat: ChatController;
  previews: PreviewManager;
  reviews: ReviewManager;
  status(): StatusParams | ClientState;
  serverCommand(): ServerCommand | undefined;
  restart(): Promise<void>;
}

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension('ms-python.python');
  if (!ext) return undefined;
  const lookup = async (): Promise<string | undefined> => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const api: any = ext.isActive ? ext.exports : await ext.activate();
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const envPath = api?.environments?.getActiveEnvironmentPath?.(resource);
    if (envPath) {
      const env = await api.environments.resolveEnvironment?.(envPath);
      const exe: string | undefined = env?.executable?.uri?.fsPath ?? envPath.path;
      if (exe) return exe;
    }
    const details = api?.settings?.getExecutionDetails?.(resource);
    return details?.execCommand?.[0];
  };
  return Promise.race([lookup(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000))]);
}

class Server implements vscode.Disposable {
  private current: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private found: ServerCommand | undefined;
  private missingShown = false;
  /** Settings sent at launch: the restart settings stay at these until a restart. */
  private launched: Record<string, unknown> = {};
  private readonly disposables: vscode.Disposable[] = [];
  commands!: Commands;
  setup!: SetupFlow;

  constructor(
    readonly output: vscode.LogOutputChannel,
    readonly status: StatusBar,
  ) {}

  get command(): ServerCommand | undefined {
    return this.found;
  }

  /** The running client, started on first use. */
  client(): Promise<LanguageClient | undefined> {
    if (this.current && this.current.state === State.Running) return Promise.resolve(this.current);
    if (!this.starting) {
      this.starting = this.start().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private async start(): Promise<LanguageClient | undefined> {
    if (this.current) {
      // Stopped or failed: start over.
      await this.stop();
    }
    this.status.set('starting');
    const cfg = config();
    const found = await this.find();
    for (const note of found.notes) this.output.info(note);
    if (!found.ok) {
      this.found = undefined;
      this.status.set('missing');
      this.output.error(found.message);
      if (found.reason === 'not-found' && this.setup?.canSetUp) this.setup.offer(() => this.output.show(true));
      else this.showMissing(found.message);
      return undefined;
    }
    this.found = found.server;
    this.output.info(`starting the server: ${found.server.description} ${found.server.args.join(' ')}`);
    const env = { ...process.env, ...(cfg.get<Record<string, string>>('server.env') ?? {}) };
    const serverOptions: ServerOptions = {
      command: found.server.command,
      args: found.server.args,
      options: { env },
      transport: TransportKind.stdio,
    };
    const initializationOptions = serverSettings((key) => cfg.get(key));
    if (!initializationOptions.validatePython) {
      // Tests run under the project's interpreter: the Python extension's, when there is one.
      const python = await pythonExtensionInterpreter().catch(() => undefined);
      if (python) initializationOptions.validatePython = python;
    }
    this.launched = initializationOptions;
    this.output.info(`settings sent to the server: ${JSON.stringify(redacted(initializationOptions))}`);
    const clientOptions: LanguageClientOptions = {
      documentSelector: SUPPORTED_SCHEMES.map((scheme) => ({ scheme })),
      outputChannel: this.output,
      initializationOptions,
      middleware: {
        executeCommand: async (command, args, next) => {
          // The server's code actions go through the same preview as the commands.
          if (command === CMD_EDIT || command === CMD_GENERATE || command === CMD_EXPLAIN) {
            return this.commands.fromServerCommand(command, args);
          }
          return next(command, args);
        },
        workspace: {
          configuration: (params, token, next) => {
            if (params.items.some((item) => item.section === SECTION)) {
              return params.items.map((item) => {
                if (item.section !== SECTION) return null;
                const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
                const scoped = vscode.workspace.getConfiguration(SECTION, scope);
                return runningServerSettings(serverSettings((key) => scoped.get(key)), this.launched);
              });
            }
            return next(params, token);
          },
        },
      },
    };
    const client = new LanguageClient('starcoder', 'StarCoder', serverOptions, clientOptions);
    this.current = client;
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped && this.current === client) this.status.set('stopped');
    });
    try {
      await client.start();
    } catch (err) {
      this.output.error(`the server did not start: ${err instanceof Error ? err.message : String(err)}`);
      this.status.set('stopped');
      void vscode.window
        .showErrorMessage(`StarCoder: the language server (${found.server.description}) failed to start. See the output for its log.`, 'Doctor', 'Show Output', 'Open Settings')
        .then((choice) => {
          if (choice === 'Doctor') void vscode.commands.executeCommand('starcoder.doctor');
          else if (choice === 'Show Output') this.output.show(true);
          else if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'starcoder.server');
        });
      return undefined;
    }
    this.disposables.push(
      client.onNotification(NOTIFY_STATUS, (params: unknown) => {
        const status = parseStatus(params);
        if (status) this.status.set(status);
      }),
    );
    try {
      const status = parseStatus(await client.sendRequest(REQ_STATUS, {}));
      if (status) this.status.set(status);
      else this.status.set({ state: 'idle', message: '' });
    } catch {
      this.status.set({ state: 'idle', message: '' });
    }
    return client;
  }

  /** The documented search, ending with a finished "Set up StarCoder" environment. */
  find(): Promise<FindResult> {
    const cfg = config();
    return findServer(
      {
        path: cfg.get<string>('server.path'),
        python: cfg.get<string>('server.python'),
        args: cfg.get<string[]>('server.args') ?? [],
        workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
        managed: this.setup?.managedServer(),
      },
      nodeDeps(pythonExtensionInterpreter),
    );
  }

  private showMissing(message: string): void {
    if (this.missingShown) return;
    this.missingShown = true;
    void vscode.window.showErrorMessage(`StarCoder: ${message}`, 'Open Setting', 'Show Output').then((choice) => {
      this.missingShown = false;
      if (choice === 'Open Setting') void vscode.commands.executeCommand('workbench.action.openSettings', 'starcoder.server.path');
      else if (choice === 'Show Output') this.output.show(true);
    });
  }

  async stop(): Promise<void> {
    const client = this.current;
    this.current = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
    if (client) {
      try {
        await client.stop(5000);
      } catch (err) {
        this.output.warn(`stopping the server: ${err instanceof Error ? err.message : String(err)}`);
      }
      try {
        await client.dispose(1000);
      } catch {
        // already gone
      }
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.client();
  }

  /** Sends live settings to the running server. */
  pushSettings(): void {
    const client = this.current;
    if (!client || client.state !== State.Running) return;
    const settings = runningServerSettings(serverSettings((key) => config().get(key)), this.launched);
    void client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: settings } });
  }

  dispose(): void {
    void this.stop();
  }
}

let running: Server | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<StarCoderApi> {
  const output = vscode.window.createOutputChannel('StarCoder', { log: true });
  const status = new StatusBar('starcoder.showMenu');
  const server = new Server(output, status);
  running = server;
  const previews = new PreviewManager();
  const reviews = new ReviewManager();
  const history = new InstructionHistory(context.globalState);
  const commands = new Commands({
    client: () => server.client(),
    previews,
    reviews,
    history,
    log: (message) => output.info(message),
    showOutput: () => output.show(true),
    previewMode: () => previewMode(config().get('preview')),
    tokensPerSecond: () => {
      const s = status.state;
      return typeof s === 'object' && s.state === 'generating' ? s.tokensPerSecond : undefined;
    },
    modelActivity: () => {
      const s = status.state;
      if (typeof s !== 'object') return undefined;
      if (s.state === 'downloading') return `downloading the model${s.progress !== undefined ? `: ${Math.round(s.progress)}%` : '…'}`;
      if (s.state === 'loading') return 'loading the model…';
      return undefined;
    },
  });
  server.commands = commands;
  const setup = new SetupFlow({
    storageDir: context.globalStorageUri?.fsPath,
    extensionPath: context.extensionPath,
    output,
    restartServer: () => server.restart(),
    stopServer: () => server.stop(),
    pythonExtensionInterpreter,
  });
  server.setup = setup;
  const doctor = new DoctorFlow({
    client: () => server.client(),
    serverCommand: () => server.command,
    find: () => server.find(),
    settings: () => serverSettings((key) => config().get(key)),
    serverEnv: () => config().get<Record<string, string>>('server.env') ?? {},
    setup,
    log: (message) => output.info(message),
  });
  context.subscriptions.push(output, status, server, previews, reviews, commands, doctor);
  void migratePreviewSetting(config()).then((changed) => changed.forEach((note) => output.info(`migrated the ${note}`)));
  const chat = registerChat(context, commands.host, commands);

  const register = (id: string, fn: (...args: never[]) => unknown): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  };
  register('starcoder.editSelection', (args?: CommandArgs): Promise<EditOutcome> => commands.editSelection(argsOrEmpty(args)));
  register('starcoder.generateFromComment', (args?: CommandArgs): Promise<EditOutcome> => commands.generateFromComment(argsOrEmpty(args)));
  register('starcoder.explainSelection', (args?: CommandArgs): Promise<ExplainOutcome> => commands.explain(argsOrEmpty(args)));
  register('starcoder.editAndTest', (args?: CommandArgs): Promise<EditOutcome> => commands.editAndTest(argsOrEmpty(args)));
  register('starcoder.generateAndTest', (args?: CommandArgs): Promise<EditOutcome> => commands.generateAndTest(argsOrEmpty(args)));
  register('starcoder.showTestOutput', () => commands.showTestOutput());
  register('starcoder.insertTests', (args?: CommandArgs) => commands.insertTests(argsOrEmpty(args)));
  // Accept / Reject: the whole edit (every hunk of an inline review, or the diff preview).
  register('starcoder.acceptEdit', (uri?: string) => (reviews.active ? reviews.decideAll('accept', typeof uri === 'string' ? uri : undefined) : previews.decide('accept')));
  register('starcoder.rejectEdit', (uri?: string) => (reviews.active ? reviews.decideAll('reject', typeof uri === 'string' ? uri : undefined) : previews.decide('reject')));
  // One hunk of an inline review: the code lens's, else the one at the cursor.
  register(CMD_ACCEPT_CHANGE, (uri?: string, id?: number) => reviews.decideChange('accept', typeof uri === 'string' ? uri : undefined, id));
  register(CMD_REJECT_CHANGE, (uri?: string, id?: number) => reviews.decideChange('reject', typeof uri === 'string' ? uri : undefined, id));
  register('starcoder.cancelGeneration', () => commands.cancel());
  register('starcoder.showOutput', () => output.show(true));
  register('starcoder.restartServer', () => server.restart());
  register('starcoder.openSettings', () => vscode.commands.executeCommand('workbench.action.openSettings', '@ext:starcoder-lsp.starcoder-lsp'));
  register('starcoder.clearHistory', () => history.clear());
  register('starcoder.setup', (args?: SetupArgs) => setup.run(argsOrEmpty(args) as SetupArgs));
  register('starcoder.doctor', () => doctor.run());
  register('starcoder.loadModel', async () => {
    const client = await server.client();
    if (!client) return undefined;
    try {
      const result = parseStatus(await client.sendRequest(REQ_LOAD, {}));
      if (result) status.set(result);
      return result;
    } catch (err) {
      void vscode.window.showErrorMessage(`StarCoder: loading the model failed: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  });
  register('starcoder.showMenu', async () => {
    const items: (vscode.QuickPickItem & { command: string })[] = [
      { label: '$(output) Show Server Log', command: 'starcoder.showOutput' },
      { label: '$(debug-restart) Restart Server', command: 'starcoder.restartServer' },
      { label: '$(cloud-download) Load Model Now', command: 'starcoder.loadModel' },
      { label: '$(settings-gear) Open Settings', command: 'starcoder.openSettings' },
      { label: '$(pulse) Doctor', command: 'starcoder.doctor' },
    ];
    if (status.state === 'missing' || status.state === 'stopped') items.unshift({ label: '$(tools) Set up StarCoder', command: 'starcoder.setup' });
    if (commands.isGenerating) items.unshift({ label: '$(stop-circle) Cancel Generation', command: 'starcoder.cancelGeneration' });
    const choice = await vscode.window.showQuickPick(items, { title: 'StarCoder' });
    if (choice) await vscode.commands.executeCommand(choice.command);
  });

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      const change = classifyChange((section) => e.affectsConfiguration(section));
      if (change.live.length) server.pushSettings();
      if (change.restart.length) {
        const names = change.restart.join(', ');
        void vscode.window
          .showInformationMessage(`StarCoder: ${names} take${change.restart.length === 1 ? 's' : ''} effect after a restart of the language server.`, 'Restart Now')
          .then((choice) => {
            if (choice === 'Restart Now') void server.restart();
          });
      }
    }),
  );

  void vscode.commands.executeCommand('setContext', 'starcoder.previewActive', false);
  void vscode.commands.executeCommand('setContext', CTX_REVIEW_ACTIVE, false);
  void vscode.commands.executeCommand('setContext', 'starcoder.generating', false);
  // Start the server now so the status bar shows the model's state; commands also start it.
  void server.client();
  // A newer server in this .vsix than the set-up installed: offer the upgrade.
  void setup.checkUpgrade();

  return {
    client: () => server.client(),
    commands,
    chat,
    previews,
    reviews,
    status: () => status.state,
    serverCommand: () => server.command,
    restart: () => server.restart(),
  };
}

/** Commands invoked from menus get a URI or other objects as first argument: ignore those. */
function argsOrEmpty(args: unknown): CommandArgs {
  if (args && typeof args === 'object' && !(args instanceof vscode.Uri) && !Array.isArray(args)) return args as CommandArgs;
  return {};
}

/** Stops the server gracefully (shutdown + exit) before the extension host goes away. */
export async function deactivate(): Promise<void> {
  const server = running;
  running = undefined;
  await server?.stop();
}
