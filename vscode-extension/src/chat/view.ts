/**
 * The StarCoder Chat view (activity bar): the webview page (webview/, built by esbuild into
 * dist/chat) under a strict CSP, and the routing of its messages to the ChatController.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { ChatChange, ChatController } from './controller';
import { chatHtml } from './html';
import { openFiles } from './chips';
import { FromView, ToView, parseFromView } from './messages';

export const CHAT_VIEW_ID = 'starcoder.chatView';

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly chat: ChatController,
  ) {
    chat.reveal = () => this.reveal();
    chat.isVisible = () => this.visible;
    this.disposables.push(chat.onDidChange((change) => this.onChange(change)));
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  get visible(): boolean {
    return this.view?.visible ?? false;
  }

  async reveal(): Promise<void> {
    if (this.view?.visible) return;
    await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const root = vscode.Uri.joinPath(this.extensionUri, 'dist', 'chat');
    view.webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [root] };
    view.webview.html = chatHtml({
      cspSource: view.webview.cspSource,
      nonce: randomBytes(18).toString('base64url'), // fresh for each page
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(root, 'webview.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(root, 'webview.css')).toString(),
    });
    this.disposables.push(
      view.webview.onDidReceiveMessage((raw) => {
        const message = parseFromView(raw);
        if (message) void this.handle(message);
      }),
      view.onDidChangeVisibility(() => {
        if (view.visible) this.chat.followEditor();
      }),
      view.onDidDispose(() => {
        if (this.view === view) this.view = undefined;
      }),
    );
    this.chat.followEditor();
  }

  private post(message: ToView): void {
    void this.view?.webview.postMessage(message);
  }

  private onChange(change: ChatChange): void {
    if (change.kind === 'state') this.post({ type: 'state', state: this.chat.conversation.view(this.chat.streaming) });
    else if (change.kind === 'partial') this.post({ type: 'partial', index: change.index, text: change.text });
    else this.post({ type: 'focus', text: change.text });
  }

  /** What the page asked for. */
  async handle(message: FromView): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.onChange({ kind: 'state' });
        this.chat.sizeChips();
        return;
      case 'send':
        await this.chat.ask(message.text);
        return;
      case 'stop':
        this.chat.stop();
        return;
      case 'newChat':
        await this.chat.newChat();
        return;
      case 'removeChip':
        this.chat.removeChip(message.id);
        return;
      case 'listFiles':
        this.post({ type: 'openFiles', files: openFiles() });
        return;
      case 'addFile':
        this.chat.addOpenFile(message.uri);
        return;
      case 'copy':
        await this.chat.copy(message.code);
        return;
      case 'insert':
        await this.chat.insert(message.code);
        return;
      case 'apply':
        await this.chat.apply(message.code);
        return;
      case 'openLink':
        if (/^https?:\/\//i.test(message.href)) await vscode.env.openExternal(vscode.Uri.parse(message.href));
        return;
      case 'firstToken':
        this.chat.recordFirstToken(message.ms);
        return;
    }
  }
}
