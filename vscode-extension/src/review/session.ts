/**
 * One inline review: the model's answer streams into the document below the code it rewrites;
 * then the server's edit is laid out hunk by hunk (each new text inserted after the old text it
 * replaces) until every hunk is accepted or rejected.
 *
 * The document only ever changes through versioned edits (versioned.ts). Changes the user
 * makes meanwhile are followed: the streaming text and the hunks shift with them, and the
 * server's edit (asked for the version the request was planned on, `rebase: false`) is
 * moved through them, or refused where they overlap it.
 */
import * as vscode from 'vscode';
import { editsFor } from '../preview';
import type { EditResult, Range as LspRange } from '../protocol';
import { eolOf, offsetAt, wholeLines } from '../text';
import {
  Change,
  Hunk,
  Region,
  afterDecision,
  decisionEdits,
  hunksFromEdits,
  layout,
  rebaseHunks,
  streamDisplay,
  trackChange,
} from './hunks';
import { OwnEdit, VersionedEdits } from './versioned';

export type Decision = 'accept' | 'reject';

export interface ReviewSummary {
  accepted: number;
  rejected: number;
  /** Hunks the user edited across their old and new text: left as they stand. */
  takenOver: number;
  /** Ended without a decision on every hunk (cancelled, failed, document closed). */
  aborted: boolean;
}

export type ShowOutcome = { status: 'shown'; hunks: number } | { status: 'empty' } | { status: 'conflict'; message: string };

/** Our streaming text in the document (length 0 before any text came). */
interface Block {
  start: number;
  length: number;
}

/** Milliseconds between two updates of the streaming text in the document. */
export const STREAM_INTERVAL_MS = 60;

export class ReviewSession implements vscode.Disposable {
  readonly original: string;
  readonly originalVersion: number;
  private readonly eol: string;
  /** A line break before the streaming text (when it goes after a last line without one). */
  private readonly lead: string;
  private block: Block;
  private streamText = '';
  private wanted: string | undefined;
  private pumping = false;
  private streamClosed = false;
  /** The code being rewritten, while the model streams (decorated). */
  private target: Region | undefined;
  /** The user's changes before the layout, on the document without our streaming text. */
  private readonly userChanges: Change[] = [];
  private regions: Region[] = [];
  private laidOut = false;
  private readonly decided = new Map<number, Decision | 'taken'>();
  private readonly edits: VersionedEdits;
  private finished = false;
  private resolveDone!: (summary: ReviewSummary) => void;
  /** Resolves once every hunk is decided, or the review is aborted. */
  readonly done: Promise<ReviewSummary>;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when what the review shows changed (text, regions, decisions). */
  readonly onDidChange = this.changed.event;

  readonly document: vscode.TextDocument;

  /** Reviews an edit of `range` (whole lines) in `document`; `generate` inserts after it. */
  constructor(target: { document: vscode.TextDocument; range: LspRange; mode: 'edit' | 'generate' }) {
    const { document, range, mode } = target;
    this.document = document;
    this.original = document.getText();
    this.originalVersion = document.version;
    this.edits = new VersionedEdits(
      document,
      (changes) => this.userChange(changes),
      () => this.changed.fire(),
    );
    this.eol = eolOf(this.original);
    const lines = wholeLines(this.original, range);
    const anchor = offsetAt(this.original, lines.end);
    this.lead = anchor === this.original.length && anchor > 0 && !this.original.endsWith('\n') ? this.eol : '';
    this.block = { start: anchor, length: 0 };
    if (mode === 'edit') {
      const start = offsetAt(this.original, lines.start);
      if (anchor > start) this.target = { id: -1, start, oldLength: anchor - start, newLength: 0 };
    }
    this.done = new Promise<ReviewSummary>((resolve) => (this.resolveDone = resolve));
  }

  get isFinished(): boolean {
    return this.finished;
  }

  get isLaidOut(): boolean {
    return this.laidOut;
  }

  /** The hunks still to decide, in the document as it is now. */
  get pending(): readonly Region[] {
    return this.regions;
  }

  /** The streaming text's place in the document, while there is one. */
  get streaming(): Block | undefined {
    return !this.laidOut && this.block.length > 0 ? { ...this.block } : undefined;
  }

  /** The code being rewritten while the model streams. */
  get rewriting(): Region | undefined {
    return this.laidOut || this.finished ? undefined : this.target;
  }

  summary(aborted: boolean): ReviewSummary {
    const count = (what: Decision | 'taken') => [...this.decided.values()].filter((d) => d === what).length;
    return { accepted: count('accept'), rejected: count('reject'), takenOver: count('taken'), aborted };
  }

  /** Shows the text generated so far (the full text, as `$/progress` reports it). */
  stream(textSoFar: string): void {
    if (this.streamClosed || this.finished) return;
    this.wanted = streamDisplay(textSoFar, this.eol);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.wanted !== undefined && !this.streamClosed && !this.finished) {
        const text = this.wanted;
        this.wanted = undefined;
        if (text === this.streamText) continue;
        await this.edits.run(() => this.replaceStream(text));
        await new Promise((resolve) => setTimeout(resolve, STREAM_INTERVAL_MS));
      }
    } finally {
      this.pumping = false;
    }
  }

  private replaceStream(text: string): OwnEdit {
    const blockText = !text ? '' : this.lead ? this.lead + text : text + this.eol;
    return {
      changes: [{ offset: this.block.start, length: this.block.length, text: blockText }],
      commit: () => {
        this.block.length = blockText.length;
        this.streamText = text;
      },
    };
  }

  /**
   * Takes the streaming text out and lays the server's edit out for review. The edit must be
   * for the version the review started on; it is moved through the user's changes since.
   */
  async show(result: EditResult): Promise<ShowOutcome> {
    this.streamClosed = true;
    const { edits, version } = editsFor(result, this.document.uri.toString());
    if (version !== null && version !== this.originalVersion) {
      await this.abort();
      return { status: 'conflict', message: `the edit is for version ${version} of the document, the review began at ${this.originalVersion}` };
    }
    let hunks: Hunk[];
    try {
      hunks = hunksFromEdits(this.original, edits);
    } catch (err) {
      await this.abort();
      return { status: 'conflict', message: err instanceof Error ? err.message : String(err) };
    }
    const cleared = await this.edits.runRetrying(() =>
      this.block.length ? { changes: [{ offset: this.block.start, length: this.block.length, text: '' }], commit: () => (this.block.length = 0) } : undefined,
    );
    if (!cleared) {
      this.finish(true);
      return { status: 'conflict', message: 'the document kept changing; the proposed edit was not shown' };
    }
    if (!hunks.length) {
      this.finish(false);
      return { status: 'empty' };
    }
    let refused: string | undefined;
    const laid = await this.edits.runRetrying(() => {
      refused = undefined;
      const moved = rebaseHunks(hunks, this.userChanges);
      const text = this.document.getText();
      if (!moved || moved.some((hunk) => text.slice(hunk.start, hunk.start + hunk.oldText.length) !== hunk.oldText)) {
        refused = 'you edited the code the model was rewriting';
        return undefined;
      }
      const { inserts, regions } = layout(moved);
      return {
        changes: inserts,
        commit: () => {
          this.regions = regions;
          this.laidOut = true;
        },
      };
    });
    if (refused || !laid) {
      this.finish(true);
      return { status: 'conflict', message: refused ?? 'the document kept changing; the proposed edit was not shown' };
    }
    this.changed.fire();
    return { status: 'shown', hunks: this.regions.length };
  }

  /** Accepts or rejects the hunks `ids` (or all still pending). */
  async decide(ids: readonly number[] | 'all', decision: Decision): Promise<boolean> {
    const ok = await this.edits.runRetrying(() => {
      const chosen = this.regions.filter((region) => ids === 'all' || ids.includes(region.id));
      if (!chosen.length) return undefined;
      const set = new Set(chosen.map((region) => region.id));
      return {
        changes: decisionEdits(chosen, decision),
        commit: () => {
          this.regions = afterDecision(this.regions, set, decision);
          for (const id of set) this.decided.set(id, decision);
        },
      };
    });
    this.finishIfDecided();
    return ok;
  }

  /** Ends the review leaving the document as it was: streaming text out, hunks rejected. */
  async abort(): Promise<void> {
    this.streamClosed = true;
    if (this.finished) return;
    if (this.laidOut) await this.decide('all', 'reject');
    else await this.edits.runRetrying(() => (this.block.length ? { changes: [{ offset: this.block.start, length: this.block.length, text: '' }], commit: () => (this.block.length = 0) } : undefined));
    this.finish(true);
  }

  /** The document was closed: nothing more can be done to it. */
  closed(): void {
    this.streamClosed = true;
    this.finish(true);
  }

  /** A change of the document (ours or the user's). */
  onDocumentChange(event: vscode.TextDocumentChangeEvent): void {
    if (this.finished) return;
    if (this.edits.onDocumentChange(event)) {
      this.finishIfDecided();
      this.changed.fire();
    }
  }

  private userChange(changes: Change[]): void {
    // The changes of one event are all on the same text: follow them from the last.
    for (const change of [...changes].sort((a, b) => b.offset - a.offset)) this.follow(change);
  }

  private follow(change: Change): void {
    const delta = change.text.length - change.removed;
    if (!this.laidOut) {
      const end = change.offset + change.removed;
      if (end <= this.block.start) {
        this.userChanges.push(change);
        this.block.start += delta;
      } else if (change.offset >= this.block.start + this.block.length) {
        this.userChanges.push({ ...change, offset: change.offset - this.block.length });
      } else {
        this.block.length = Math.max(0, this.block.length + delta); // typed into our streaming text
      }
      if (this.target) this.target = trackChange(this.target, change);
      return;
    }
    const kept: Region[] = [];
    for (const region of this.regions) {
      const moved = trackChange(region, change);
      if (moved) kept.push(moved);
      else this.decided.set(region.id, 'taken');
    }
    this.regions = kept;
  }

  private finishIfDecided(): void {
    if (this.laidOut && !this.regions.length) this.finish(false);
  }

  private finish(aborted: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.streamClosed = true;
    this.resolveDone(this.summary(aborted));
    this.changed.fire();
  }

  dispose(): void {
    if (!this.finished) void this.abort();
    this.changed.dispose();
  }
}
