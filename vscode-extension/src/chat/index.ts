/**
 * StarCoder Chat in VS Code: the view in the activity bar and its commands. Files by role:
 * controller (the logic), view (the webview provider), conversation (state kept per
 * workspace), chips (attached code), protocol (the server's payloads), messages (the
 * page's), html (the page and its CSP), webview/ (the page itself, bundled by esbuild).
 */
import * as vscode from 'vscode';
import type { Commands } from '../commands';
import type { Host } from '../commands/host';
import { ChatController } from './controller';
import { CHAT_VIEW_ID, ChatViewProvider } from './view';

export { CHAT_VIEW_ID } from './view';

export function registerChat(context: vscode.ExtensionContext, host: Host, commands: Commands): ChatController {
  const chat = new ChatController(host, commands.generation, commands.edits, context.workspaceState);
  const view = new ChatViewProvider(context.extensionUri, chat);
  commands.attachChat(chat);
  context.subscriptions.push(
    chat,
    view,
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, view),
    vscode.commands.registerCommand('starcoder.openChat', () => view.reveal()),
    vscode.commands.registerCommand('starcoder.askAboutSelection', () => chat.askAboutSelection()),
    vscode.commands.registerCommand('starcoder.newChat', () => chat.newChat()),
    vscode.commands.registerCommand('starcoder.stopChat', () => chat.stop()),
  );
  return chat;
}
