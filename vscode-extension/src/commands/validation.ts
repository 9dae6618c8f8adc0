/**
 * What validation adds to the edit flow (Generate and Test / Edit and Test, or the
 * `starcoder.validate` setting): the preview labelled with what ran, the decision worded
 * for passing or failing code, the test output in a read-only document, and the model's
 * tests inserted into the project's test file as a second edit, previewed like the first.
 * The server does the testing; this only shows what it reports.
 */
import * as vscode from 'vscode';
import { PreviewContentProvider, type PreviewSession } from '../preview';
import type { EditResult, Validation } from '../protocol';
import type { Host } from './host';
import { basename, errorMessage, shorten } from './messages';

export const TESTS_SCHEME = 'starcoder-tests';
export const SHOW_TEST_OUTPUT = 'Show Test Output';
export const INSERT_TESTS = 'Insert Tests';

/** The diff's title once the tests ran: "calc.py ↔ StarCoder: 4/4 tests pass: …". */
export function validatedTitle(fileName: string, validation: Validation): string {
  return `${fileName} ↔ StarCoder: ${shorten(validation.label || validation.status, 90)}`;
}

/** The Accept / Reject question, worded by what the tests said. */
export function decisionText(result: EditResult, speed: string): { text: string; failing: boolean } {
  const v = result.validation;
  if (!v) return { text: `StarCoder: review the proposed edit${speed}.`, failing: false };
  if (v.passed) return { text: `StarCoder: ${v.label}. Review the proposed edit${speed}.`, failing: false };
  return { text: `StarCoder: ${v.label}. The code did not pass its tests: accept it only if you have checked it.`, failing: true };
}

/** The text of the test output document. */
export function outputDocument(v: Validation): string {
  const isolation = Object.entries(v.isolation)
    .filter(([, value]) => typeof value === 'string')
    .map(([key, value]) => `  ${key}: ${String(value)}`);
  return [
    `StarCoder validation: ${v.label}`,
    `candidates tried: ${v.candidates}${v.chosen ? `; proposed: ${v.chosen}` : ''}`,
    '',
    v.output,
    '',
    'Sandbox in force:',
    ...isolation,
    '',
  ].join('\n');
}

export class ValidationUi implements vscode.Disposable {
  readonly docs = new PreviewContentProvider();
  private readonly registration: vscode.Disposable;
  private counter = 0;
  /** The validation of the last validated edit (for the Show Test Output command). */
  last: Validation | undefined;

  constructor(private readonly host: Host) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(TESTS_SCHEME, this.docs);
  }

  dispose(): void {
    this.docs.dispose();
    this.registration.dispose();
  }

  /** The validation Show Test Output and Insert the Model's Tests use from now on. */
  remember(validation: Validation): void {
    this.last = validation;
  }

  /** Labels the preview with what ran, once the server's result is in. */
  async label(session: PreviewSession, result: EditResult): Promise<void> {
    if (!result.validation) return;
    this.remember(result.validation);
    await session.retitle(validatedTitle(basename(session.document.uri), result.validation));
  }

  /** Opens the tests and their output in a read-only document beside the diff. */
  async showOutput(validation = this.last): Promise<vscode.Uri | undefined> {
    if (!validation) {
      void vscode.window.showInformationMessage('StarCoder: no validated edit yet (run Generate and Test or Edit and Test).');
      return undefined;
    }
    const uri = vscode.Uri.from({ scheme: TESTS_SCHEME, path: `/StarCoder test output ${++this.counter}.txt` });
    this.docs.set(uri, outputDocument(validation));
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
    return uri;
  }

  /** After an accepted edit: offer the model's tests for the project's test file. */
  async offerTests(validation: Validation, source: vscode.Uri): Promise<void> {
    if (!validation.tests || !validation.passed) return;
    const target = this.testFile(validation, source);
    const choice = await vscode.window.showInformationMessage(
      `StarCoder: add the model's tests to ${basename(target)}?`,
      INSERT_TESTS,
    );
    if (choice === INSERT_TESTS) await this.insertTests(validation, source);
  }

  testFile(validation: Validation, source: vscode.Uri): vscode.Uri {
    if (validation.testFile) return vscode.Uri.parse(validation.testFile);
    const name = basename(source).replace(/\.py$/, '');
    return vscode.Uri.joinPath(source, '..', `test_${name}.py`);
  }

  /**
   * The second edit: the tests appended to the test file (created empty first when it does
   * not exist, and removed again if the insertion is rejected), previewed with Accept / Reject.
   */
  async insertTests(validation = this.last, source?: vscode.Uri, decision?: 'accept' | 'reject'): Promise<'accepted' | 'rejected' | 'failed'> {
    if (!validation?.tests) return 'failed';
    const origin = source ?? vscode.window.activeTextEditor?.document.uri;
    if (!origin) return 'failed';
    const target = this.testFile(validation, origin);
    let created = false;
    try {
      await vscode.workspace.fs.stat(target);
    } catch {
      const make = new vscode.WorkspaceEdit();
      make.createFile(target, { ignoreIfExists: true });
      created = await vscode.workspace.applyEdit(make);
    }
    let document: vscode.TextDocument;
    try {
      document = await vscode.workspace.openTextDocument(target);
    } catch (err) {
      void vscode.window.showErrorMessage(`StarCoder: cannot open ${target.toString()}: ${errorMessage(err)}`);
      return 'failed';
    }
    const text = document.getText();
    const end = document.positionAt(text.length);
    const separator = text.length === 0 ? '' : text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n\n' : '\n\n\n';
    const range = { start: { line: end.line, character: end.character }, end: { line: end.line, character: end.character } };
    const result: EditResult = {
      edit: { documentChanges: [{ textDocument: { uri: target.toString(), version: document.version }, edits: [{ range, newText: separator + validation.tests }] }] },
      text: validation.tests,
      instruction: "insert the model's tests",
      range,
      mode: 'edit',
      version: document.version,
      stats: {},
    };
    const session = this.host.previews.begin(document, range, 'edit', `${basename(target)} ↔ StarCoder: the model's tests`);
    try {
      await session.show();
      session.finish(result);
      let chosen = decision;
      if (!chosen) {
        void vscode.window.showInformationMessage(`StarCoder: insert the model's tests into ${basename(target)}?`, 'Accept', 'Reject').then((choice) => {
          if (choice === 'Accept') session.decide('accept');
          else if (choice === 'Reject') session.decide('reject');
        });
        chosen = await session.decision;
      }
      if (chosen === 'accept') {
        const accepted = await session.accept();
        await session.close();
        if (accepted.applied) return 'accepted';
      } else {
        await session.close();
      }
      if (created && document.getText() === '') await vscode.workspace.fs.delete(target);
      return chosen === 'accept' ? 'failed' : 'rejected';
    } finally {
      this.host.previews.end(session);
    }
  }
}
