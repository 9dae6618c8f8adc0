/** The server's reply to `starcoder/edit`, read the same way by every review (diff, inline, none). */
import type { EditResult } from '../protocol';
import { parseEditResult } from '../protocol';
import type { EditOutcome } from './edit';
import type { Host } from './host';
import { errorMessage, showError } from './messages';
import type { StreamReply } from './stream';

/**
 * The server's reply to `starcoder/edit` as its result, or the outcome that ends the flow
 * there: cancelled, failed, malformed, or refused as a conflict (Retry offered). `end`
 * closes the preview or review first.
 */
export async function readEditReply(
  host: Host,
  reply: StreamReply<unknown>,
  end: () => Promise<void>,
  offerRetry: (message: string) => void,
): Promise<EditResult | EditOutcome> {
  if (!reply.ok) {
    await end();
    if (reply.cancelled) return { status: 'cancelled', elapsedMs: reply.elapsedMs };
    const message = errorMessage(reply.error);
    void showError(host, `StarCoder: the edit failed: ${message}`);
    return { status: 'error', message };
  }
  let result: EditResult;
  try {
    result = parseEditResult(reply.value);
  } catch (err) {
    await end();
    const message = errorMessage(err);
    void showError(host, `StarCoder: ${message}`);
    return { status: 'error', message };
  }
  if (!result.edit && result.reason === 'conflict') {
    await end();
    const message = result.message ?? 'the document changed while the model was writing';
    offerRetry(message);
    return { status: 'conflict', result, message };
  }
  return result;
}
