/**
 * The contract with the starcoder-lsp server: custom methods, commands and payloads.
 *
 * Mirrors `lsp_server/protocol.py`; keep both in step. Results from the server are
 * validated by the `parse*` functions so that a server of another version gives a clear
 * error instead of a crash deep in the UI code.
 */

// Commands (workspace/executeCommand). One argument: EditArgs.
export const CMD_EDIT = 'starcoder.edit';
export const CMD_GENERATE = 'starcoder.generate';
export const CMD_EXPLAIN = 'starcoder.explain';
export const CMD_CANCEL = 'starcoder.cancel';
export const SERVER_COMMANDS = [CMD_EDIT, CMD_GENERATE, CMD_EXPLAIN, CMD_CANCEL] as const;

// Custom requests: same params as the commands; results returned instead of applied.
export const REQ_EDIT = 'starcoder/edit';
export const REQ_EXPLAIN = 'starcoder/explain';
export const REQ_STATUS = 'starcoder/getStatus';
export const REQ_LOAD = 'starcoder/loadModel';
/** -> DoctorResult: the doctor's checks for the server's current settings. */
export const REQ_DOCTOR = 'starcoder/doctor';
// StarCoder Chat (payloads in chat/protocol.ts).
export const REQ_CHAT = 'starcoder/chat';
export const REQ_CHAT_CONTEXT = 'starcoder/chatContext';

// Server -> client notification with the model's state.
export const NOTIFY_STATUS = 'starcoder/status';

export const STATES = ['idle', 'downloading', 'loading', 'ready', 'generating', 'error'] as const;
export type ModelState = (typeof STATES)[number];

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

/** `{uri, range?, instruction?}`: the argument of every command and request. */
export interface EditArgs {
  uri: string;
  range?: Range;
  instruction?: string;
  /** Asks for generation from the comment at the range (extra key; servers may ignore it). */
  mode?: 'edit' | 'generate';
  /** Code to use as the model's answer for the range (chat's Apply): no generation. */
  answer?: string;
  /** `false` (starcoder/edit): the edit for the version the request was planned on, not moved
   * onto the document as it is when the model is done (the inline review moves it itself). */
  rebase?: boolean;
  /** LSP work-done token: `$/progress` reports carry the full text generated so far. */
  workDoneToken?: string;
  /** Test the code in the server's sandbox before proposing it (absent: the `validate` setting). */
  validate?: boolean;
}

/** `validation` next to the edit (and in progress reports while it runs): what the tests said. */
export interface Validation {
  /** "passed" | "failed" | "no-tests" | "no-runner" | "running" */
  status: string;
  passed: boolean;
  testsPassed: number;
  testsTotal: number;
  candidates: number;
  /** Which isolation was in force (network, filesystem, processes, limits, ...). */
  isolation: Record<string, unknown>;
  /** The tests and their output, for "Show Test Output". */
  output: string;
  /** "4/4 tests pass: 2 doctests from your docstring, 2 tests written by the model" */
  label: string;
  chosen: string;
  /** The model's tests as code for the project's test file ("" when none). */
  tests: string;
  /** Where they would go (a URI, "" when unknown). */
  testFile: string;
}

export interface Stats {
  prompt_tokens?: number;
  completion_tokens?: number;
  tokens_per_second?: number;
  total_s?: number;
  [key: string]: unknown;
}

export interface TextEdit {
  range: Range;
  newText: string;
}

export interface TextDocumentEdit {
  textDocument: { uri: string; version: number | null };
  edits: TextEdit[];
}

export interface WorkspaceEdit {
  documentChanges?: TextDocumentEdit[];
  changes?: Record<string, TextEdit[]>;
}

/** Result of `starcoder/edit`: the edit, not applied. */
export interface EditResult {
  edit: WorkspaceEdit | null;
  text: string;
  instruction: string | null;
  range: Range | null;
  mode: 'edit' | 'generate';
  version: number | null;
  stats: Stats;
  /** Set when there is no edit: why ("empty", "conflict", ...), and the server's message. */
  reason?: string;
  message?: string;
  /** Present when the code was validated. */
  validation?: Validation;
}

/** Result of `workspace/executeCommand starcoder.edit|starcoder.generate`. */
export interface CommandResult {
  applied: boolean;
  /** How many times workspace/applyEdit was sent (a refusal after new typing is retried). */
  attempts?: number;
  reason?: string;
  text?: string;
  instruction?: string | null;
  range?: Range | null;
  stats?: Stats;
}

export interface ExplainResult {
  kind: 'markdown';
  value: string;
  stats: Stats;
}

/** `starcoder/status` notification and `starcoder/getStatus` result. */
export interface StatusParams {
  state: ModelState;
  message: string;
  progress?: number;
  tokensPerSecond?: number;
  model?: string;
  backend?: string;
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(`unexpected reply from the StarCoder server: ${message}`);
    this.name = 'ProtocolError';
  }
}

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPosition(value: unknown): value is Position {
  return isObj(value) && Number.isInteger(value.line) && Number.isInteger(value.character);
}

export function isRange(value: unknown): value is Range {
  return isObj(value) && isPosition(value.start) && isPosition(value.end);
}

function isTextEdit(value: unknown): value is TextEdit {
  return isObj(value) && isRange(value.range) && typeof value.newText === 'string';
}

function parseWorkspaceEdit(value: unknown): WorkspaceEdit {
  if (!isObj(value)) throw new ProtocolError('`edit` must be a WorkspaceEdit or null');
  const out: WorkspaceEdit = {};
  if (value.documentChanges !== undefined) {
    if (!Array.isArray(value.documentChanges)) throw new ProtocolError('`documentChanges` must be a list');
    out.documentChanges = value.documentChanges.map((change: unknown) => {
      if (
        !isObj(change) ||
        !isObj(change.textDocument) ||
        typeof change.textDocument.uri !== 'string' ||
        !Array.isArray(change.edits) ||
        !change.edits.every(isTextEdit)
      ) {
        throw new ProtocolError('each document change must be {textDocument: {uri, version}, edits}');
      }
      const version = change.textDocument.version;
      return {
        textDocument: { uri: change.textDocument.uri, version: typeof version === 'number' ? version : null },
        edits: change.edits as TextEdit[],
      };
    });
  }
  if (value.changes !== undefined) {
    if (!isObj(value.changes)) throw new ProtocolError('`changes` must be an object');
    const changes: Record<string, TextEdit[]> = {};
    for (const [uri, edits] of Object.entries(value.changes)) {
      if (!Array.isArray(edits) || !edits.every(isTextEdit)) throw new ProtocolError('`changes` holds TextEdit lists');
      changes[uri] = edits as TextEdit[];
    }
    out.changes = changes;
  }
  return out;
}

function parseStats(value: unknown): Stats {
  return isObj(value) ? (value as Stats) : {};
}

export function parseEditResult(value: unknown): EditResult {
  if (!isObj(value)) throw new ProtocolError('starcoder/edit must return an object');
  const edit = value.edit === null || value.edit === undefined ? null : parseWorkspaceEdit(value.edit);
  if (typeof value.text !== 'string' && (edit !== null || typeof value.reason !== 'string')) {
    throw new ProtocolError('`text` must be a string');
  }
  const range = isRange(value.range) ? value.range : null;
  const out: EditResult = {
    edit,
    text: typeof value.text === 'string' ? value.text : '',
    instruction: typeof value.instruction === 'string' ? value.instruction : null,
    range,
    mode: value.mode === 'generate' ? 'generate' : 'edit',
    version: typeof value.version === 'number' ? value.version : null,
    stats: parseStats(value.stats),
  };
  if (typeof value.reason === 'string') out.reason = value.reason;
  if (typeof value.message === 'string') out.message = value.message;
  const validation = parseValidation(value.validation);
  if (validation) out.validation = validation;
  return out;
}

/** The `validation` object of a result or progress report; undefined when absent or malformed. */
export function parseValidation(value: unknown): Validation | undefined {
  if (!isObj(value) || typeof value.passed !== 'boolean') return undefined;
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    status: str(value.status) || (value.passed ? 'passed' : 'failed'),
    passed: value.passed,
    testsPassed: num(value.testsPassed),
    testsTotal: num(value.testsTotal),
    candidates: num(value.candidates),
    isolation: isObj(value.isolation) ? value.isolation : {},
    output: str(value.output),
    label: str(value.label),
    chosen: str(value.chosen),
    tests: str(value.tests),
    testFile: str(value.testFile),
  };
}

/** A progress report about validation ("candidate 2/5: 3/4 tests pass"), not streamed text. */
export function progressValidation(value: unknown): { message: string; validation: Validation } | undefined {
  if (!isObj(value) || !isObj(value.validation)) return undefined;
  const validation = parseValidation(value.validation);
  if (!validation) return undefined;
  return { message: typeof value.message === 'string' ? value.message : '', validation };
}

export function parseExplainResult(value: unknown): ExplainResult {
  if (typeof value === 'string') return { kind: 'markdown', value, stats: {} };
  if (!isObj(value) || typeof value.value !== 'string') {
    throw new ProtocolError('starcoder/explain must return {kind: "markdown", value}');
  }
  return { kind: 'markdown', value: value.value, stats: parseStats(value.stats) };
}

export function parseStatus(value: unknown): StatusParams | undefined {
  if (!isObj(value) || typeof value.state !== 'string') return undefined;
  if (!(STATES as readonly string[]).includes(value.state)) return undefined;
  const status: StatusParams = {
    state: value.state as ModelState,
    message: typeof value.message === 'string' ? value.message : '',
  };
  if (typeof value.progress === 'number' && Number.isFinite(value.progress)) {
    status.progress = Math.max(0, Math.min(100, value.progress));
  }
  const tps = value.tokensPerSecond ?? value.tokens_per_second;
  if (typeof tps === 'number' && Number.isFinite(tps)) status.tokensPerSecond = tps;
  if (typeof value.model === 'string') status.model = value.model;
  if (typeof value.backend === 'string') status.backend = value.backend;
  return status;
}

/** The text of a `$/progress` report (the full text generated so far), if any. */
export function progressText(value: unknown): string | undefined {
  if (!isObj(value) || value.validation !== undefined) return undefined;
  return typeof value.message === 'string' ? value.message : undefined;
}

/** One check of `starcoder/doctor`: status ok | fail | warn | skip. */
export interface DoctorCheck {
  name: string;
  status: 'ok' | 'fail' | 'warn' | 'skip';
  detail: string;
  fix: string;
}

export interface DoctorResult {
  ok: boolean;
  summary: string;
  markdown: string;
  checks: DoctorCheck[];
}

export function parseDoctorResult(value: unknown): DoctorResult {
  if (!isObj(value) || typeof value.markdown !== 'string' || typeof value.ok !== 'boolean') {
    throw new ProtocolError('starcoder/doctor must return {ok, markdown, checks}');
  }
  const checks = Array.isArray(value.checks) ? value.checks.filter(isObj) : [];
  return {
    ok: value.ok,
    summary: typeof value.summary === 'string' ? value.summary : '',
    markdown: value.markdown,
    checks: checks.map((c) => ({
      name: String(c.name ?? ''),
      status: (['ok', 'fail', 'warn', 'skip'].includes(String(c.status)) ? c.status : 'fail') as DoctorCheck['status'],
      detail: String(c.detail ?? ''),
      fix: String(c.fix ?? ''),
    })),
  };
}
