/** The status bar item showing the model's state (from `starcoder/status`). */
import * as vscode from 'vscode';
import type { StatusParams } from './protocol';

/** States of the client itself, before or besides the server's. */
export type ClientState = 'starting' | 'stopped' | 'missing';

export interface Rendered {
  text: string;
  tooltip: string;
  /** Show with the error background. */
  error: boolean;
  warning: boolean;
}

function modelLine(status: StatusParams): string {
  const parts = [status.model, status.backend && `(${status.backend})`].filter(Boolean);
  return parts.length ? `\n\nModel: ${parts.join(' ')}` : '';
}

export function renderStatus(status: StatusParams | ClientState): Rendered {
  if (status === 'starting') {
    return { text: '$(loading~spin) StarCoder', tooltip: 'StarCoder: starting the language server…', error: false, warning: false };
  }
  if (status === 'stopped') {
    return { text: '$(debug-stop) StarCoder', tooltip: 'StarCoder: the language server is stopped. Click for options.', error: false, warning: true };
  }
  if (status === 'missing') {
    return {
      text: '$(warning) StarCoder: no server',
      tooltip: 'StarCoder: the language server was not found. Click for options.',
      error: false,
      warning: true,
    };
  }
  const message = status.message ? `: ${status.message}` : '';
  switch (status.state) {
    case 'downloading': {
      const pct = status.progress !== undefined ? ` ${Math.round(status.progress)}%` : '';
      return { text: `$(cloud-download) StarCoder${pct}`, tooltip: `StarCoder: downloading the model${message}${modelLine(status)}`, error: false, warning: false };
    }
    case 'loading':
      return { text: '$(loading~spin) StarCoder: loading', tooltip: `StarCoder: loading the model${message}${modelLine(status)}`, error: false, warning: false };
    case 'ready':
      return { text: '$(check) StarCoder', tooltip: `StarCoder: ready${message}${modelLine(status)}`, error: false, warning: false };
    case 'generating': {
      const tps = status.tokensPerSecond !== undefined ? ` ${status.tokensPerSecond.toFixed(1)} tok/s` : '';
      return { text: `$(sync~spin) StarCoder${tps}`, tooltip: `StarCoder: generating${message}${modelLine(status)}`, error: false, warning: false };
    }
    case 'error':
      return { text: '$(error) StarCoder', tooltip: `StarCoder error${message}${modelLine(status)}`, error: true, warning: false };
    case 'idle':
    default:
      return {
        text: '$(circle-large-outline) StarCoder',
        tooltip: `StarCoder: model not loaded yet (it loads on first use)${message}${modelLine(status)}`,
        error: false,
        warning: false,
      };
  }
}

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private current: StatusParams | ClientState = 'starting';

  constructor(command: string) {
    this.item = vscode.window.createStatusBarItem('starcoder.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'StarCoder';
    this.item.command = command;
    this.set('starting');
    this.item.show();
  }

  get state(): StatusParams | ClientState {
    return this.current;
  }

  set(status: StatusParams | ClientState): void {
    this.current = status;
    const r = renderStatus(status);
    this.item.text = r.text;
    this.item.tooltip = r.tooltip;
    this.item.backgroundColor = r.error
      ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : r.warning
        ? new vscode.ThemeColor('statusBarItem.warningBackground')
        : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
