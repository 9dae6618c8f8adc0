/** One `starcoder/edit` request as every review (inline, diff, none) sends and titles it. */
import type { EditArgs } from '../protocol';
import type { EditRequest } from './edit';

/** What the progress and the diff title call the edit. */
export function editLabel(req: EditRequest): string {
  if (req.mode === 'generate') return 'generate from comment';
  return req.instruction ?? (req.answer !== undefined ? 'apply code from chat' : 'edit');
}

/** The request's params; `rebase: false` asks for the edit on the version it was planned on. */
export function editParams(req: EditRequest, rebase?: false): EditArgs {
  const params: EditArgs = { uri: req.uri.toString(), range: req.range };
  if (rebase === false) params.rebase = false;
  if (req.instruction) params.instruction = req.instruction;
  if (req.mode === 'generate') params.mode = 'generate';
  if (req.answer !== undefined) params.answer = req.answer;
  return params;
}
