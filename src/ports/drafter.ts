/**
 * Writing a follow-up: the language model or the user's templates, behind one port. Whatever writes it, a draft
 * that comes back has passed the draft checks (domain/followup-draft.ts).
 */
import type { Draft, DraftContext, FollowupTemplate } from '../domain/followup-draft.ts';

export interface DraftRequest {
  context: DraftContext;
  /** The user's templates (the fallback, and the only source when the model is not to be used). */
  templates: readonly FollowupTemplate[];
  /** Whether the language model may write it (the policy's drafter choice). */
  useModel: boolean;
}

export interface DraftResult extends Draft {
  drafter: 'openai' | 'template';
  /** Why the model's text was not used, when a template wrote it instead. */
  fallbackReason?: string;
}

export interface Drafter {
  /** Whether a language model is configured. */
  readonly modelConfigured: boolean;
  /** A checked draft; DRAFT_REJECTED when neither the model nor a template gives one that passes the checks. */
  draft(request: DraftRequest, options?: { signal?: AbortSignal }): Promise<DraftResult>;
}
