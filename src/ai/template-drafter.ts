/**
 * The Drafter port: the language model when one is configured and the policy allows it, the user's templates
 * otherwise or when the model fails (an error, a timeout, a text that fails the checks). Whatever is returned has
 * passed the draft checks; when not even a template passes them (a placeholder the user left in a template, a
 * thread in a language no template is written in), nothing is returned: DRAFT_REJECTED.
 */
import { AppError } from '../domain/errors.ts';
import {
  checkDraft,
  type Draft,
  type DraftContext,
  draftFromTemplate,
  pickTemplate,
} from '../domain/followup-draft.ts';
import type { Drafter, DraftRequest, DraftResult } from '../ports/drafter.ts';
import { type Logger, silentLogger } from '../ports/logger.ts';

/** The model side of drafting (OpenAiDrafter, or a stand-in). */
export interface ModelDrafter {
  draft(ctx: DraftContext, signal?: AbortSignal): Promise<Draft>;
}

export class TemplateDrafter implements Drafter {
  readonly #model: ModelDrafter | undefined;
  readonly #log: Logger;

  constructor(deps: { model?: ModelDrafter | undefined; logger?: Logger } = {}) {
    this.#model = deps.model;
    this.#log = deps.logger ?? silentLogger;
  }

  get modelConfigured(): boolean {
    return this.#model !== undefined;
  }

  async draft(request: DraftRequest, options: { signal?: AbortSignal } = {}): Promise<DraftResult> {
    let fallbackReason: string | undefined;
    if (this.#model && request.useModel) {
      try {
        const draft = await this.#model.draft(request.context, options.signal);
        return { ...draft, drafter: 'openai' };
      } catch (error) {
        if (options.signal?.aborted) throw error;
        fallbackReason = error instanceof AppError ? `${error.code}: ${error.message}` : String(error);
        this.#log.warn(
          { err: error },
          'the language model did not give a usable follow-up; using a template',
        );
      }
    }
    const { template } = pickTemplate(request.templates, request.context.step, request.context.language);
    const draft = draftFromTemplate(template, request.context);
    const check = checkDraft(draft, request.context.language);
    if (!check.ok) {
      throw new AppError(
        'DRAFT_REJECTED',
        `No follow-up text passes the checks: ${check.problems.join('; ')}`,
        {
          details: check.problems.map((message) => ({ path: 'draft', message })),
        },
      );
    }
    return { ...draft, drafter: 'template', ...(fallbackReason ? { fallbackReason } : {}) };
  }
}
