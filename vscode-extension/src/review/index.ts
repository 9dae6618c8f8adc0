/** Inline review of proposed edits: hunks in the editor with Accept / Reject (see manager.ts). */
export { ReviewManager, CMD_ACCEPT_CHANGE, CMD_REJECT_CHANGE, CTX_REVIEW_ACTIVE } from './manager';
export { runInlineReview } from './flow';
export { ReviewSession } from './session';
export type { Decision, ReviewSummary, ShowOutcome } from './session';
export { DEFAULT_PREVIEW, PREVIEW_MODES, migratePreviewSetting, previewMode } from './setting';
export type { PreviewMode } from './setting';
