/**
 * Our edits to one document, versioned, and the user's changes told apart from them.
 *
 * Each of our edits is built when its turn comes (on the state as it is then), checked
 * against the version last seen, and applied with `workspace.applyEdit`, which VS Code
 * refuses once the document moved on. The change events that arrive while one is on its way
 * are held back: if ours was applied, the event that makes its version + 1 is ours (a change
 * before it would have made VS Code refuse ours) and the others are the user's, in order.
 */
import * as vscode from 'vscode';
import type { Change, OffsetEdit } from './hunks';

/** One of our edits: what it changes, and the state it leaves once applied. */
export interface OwnEdit {
  changes: OffsetEdit[];
  commit: () => void;
}

interface InFlight {
  version: number;
  events: { version: number; changes: Change[] }[];
}

/** Tries of one of our edits that VS Code refused because the user typed at that moment. */
const TRIES = 5;

export class VersionedEdits {
  private version: number;
  private inFlight: InFlight | undefined;
  private expectOwn: number | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly document: vscode.TextDocument,
    /** The user's changes of one event (all on the same text), as they are seen. */
    private readonly onUserChanges: (changes: Change[]) => void,
    /** After each of our edits (applied or not). */
    private readonly onSettled: () => void,
  ) {
    this.version = document.version;
  }

  /** A change event of the document: ours, or the user's (reported). Returns whether it
   * was the user's. */
  onDocumentChange(event: vscode.TextDocumentChangeEvent): boolean {
    if (!event.contentChanges.length) return false;
    const version = event.document.version;
    const changes = event.contentChanges.map((c) => ({ offset: c.rangeOffset, removed: c.rangeLength, text: c.text }));
    if (this.inFlight) {
      this.inFlight.events.push({ version, changes });
      return false;
    }
    if (this.expectOwn === version) {
      this.expectOwn = undefined;
      this.version = version;
      return false;
    }
    this.version = version;
    this.onUserChanges(changes);
    return true;
  }

  /** Runs our edits one at a time; `make` builds one when its turn comes (undefined: none). */
  run(make: () => OwnEdit | undefined): Promise<boolean> {
    const next = this.queue.then(() => this.apply(make()));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** `run`, tried again a few times, briefly, when the user's typing got in the way. */
  async runRetrying(make: () => OwnEdit | undefined): Promise<boolean> {
    for (let attempt = 0; attempt < TRIES; attempt++) {
      if (await this.run(make)) return true;
      if (this.document.isClosed) return false;
      await new Promise((resolve) => setTimeout(resolve, 20 * (attempt + 1)));
    }
    return false;
  }

  private async apply(edit: OwnEdit | undefined): Promise<boolean> {
    if (!edit) return true;
    if (!edit.changes.length) {
      edit.commit();
      this.onSettled();
      return true;
    }
    if (this.document.isClosed || this.document.version !== this.version) return false;
    const workspaceEdit = new vscode.WorkspaceEdit();
    for (const change of edit.changes) {
      const range = new vscode.Range(this.document.positionAt(change.offset), this.document.positionAt(change.offset + change.length));
      workspaceEdit.replace(this.document.uri, range, change.text);
    }
    const inFlight: InFlight = { version: this.version, events: [] };
    this.inFlight = inFlight;
    let applied = false;
    try {
      applied = await vscode.workspace.applyEdit(workspaceEdit);
    } finally {
      this.inFlight = undefined;
    }
    if (applied) {
      edit.commit();
      this.version = inFlight.version + 1;
    }
    let ownSeen = false;
    for (const event of inFlight.events) {
      if (applied && !ownSeen && event.version === inFlight.version + 1) {
        ownSeen = true;
        continue;
      }
      this.version = event.version;
      this.onUserChanges(event.changes);
    }
    if (applied && !ownSeen) this.expectOwn = inFlight.version + 1;
    this.onSettled();
    return applied;
  }
}
