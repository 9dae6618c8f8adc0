/** What the command flows need from the rest of the extension (extension.ts supplies it; unit tests fake it). */
import type { BaseLanguageClient } from 'vscode-languageclient';
import type { InstructionHistory } from '../history';
import type { PreviewManager } from '../preview';

/** What the flows need from the rest of the extension. */
export interface Host {
  /** The running client (started on demand); undefined when the server is unavailable. */
  client(): Promise<BaseLanguageClient | undefined>;
  previews: PreviewManager;
  history: InstructionHistory;
  log(message: string): void;
  showOutput(): void;
  /** Whether to show the diff before applying (`starcoder.preview`). */
  previewEnabled(): boolean;
  /** Latest tokens/s from `starcoder/status`, for the progress message. */
  tokensPerSecond(): number | undefined;
  /** What the model is doing before text arrives (downloading 42%, loading), if anything. */
  modelActivity?(): string | undefined;
}
