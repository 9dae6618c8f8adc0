/** What the command flows need from the rest of the extension (extension.ts supplies it; unit tests fake it). */
import type { BaseLanguageClient } from 'vscode-languageclient';
import type { InstructionHistory } from '../history';
import type { PreviewManager } from '../preview';
import type { PreviewMode, ReviewManager } from '../review';

/** What the flows need from the rest of the extension. */
export interface Host {
  /** The running client (started on demand); undefined when the server is unavailable. */
  client(): Promise<BaseLanguageClient | undefined>;
  previews: PreviewManager;
  /** The inline reviews. */
  reviews: ReviewManager;
  history: InstructionHistory;
  log(message: string): void;
  showOutput(): void;
  /** How a proposed edit is reviewed (`starcoder.preview`: inline, diff or off). */
  previewMode(): PreviewMode;
  /** Latest tokens/s from `starcoder/status`, for the progress message. */
  tokensPerSecond(): number | undefined;
  /** What the model is doing before text arrives (downloading 42%, loading), if anything. */
  modelActivity?(): string | undefined;
}
