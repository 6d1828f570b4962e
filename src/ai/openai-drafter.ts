/**
 * Follow-ups written by a language model through the official openai SDK, against any OpenAI-compatible server
 * (OPENAI_BASE_URL: OpenAI itself, Ollama, vLLM, LM Studio…).
 * - Every request has a timeout; 429 and 5xx answers, timeouts and connection failures are retried with
 *   exponential backoff and jitter (a Retry-After header is honoured, capped), up to `maxRetries` times.
 * - The answer goes through the draft checks; a text that fails them is asked for once more with the problems
 *   named, then given up (the caller falls back to a template).
 * The SDK's own retries are off, so that attempts, waits and their limits are this file's and are tested here.
 */
import OpenAI from 'openai';
import { AppError } from '../domain/errors.ts';
import {
  checkDraft,
  type Draft,
  type DraftContext,
  normalizeDraftBody,
  replySubject,
  templateValues,
} from '../domain/followup-draft.ts';
import { isRetryableDrafterError, parseOpenAiError } from './parse-openai-error.ts';

export interface OpenAiDrafterOptions {
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  model: string;
  /** Per request. */
  timeoutMs: number;
  /** Retries of a 429, a 5xx, a timeout or a lost connection. */
  maxRetries: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Waits between attempts (tests pass a recorder). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const LANGUAGE_NAMES: Record<string, string> = {
  en: 'English',
  fr: 'French',
  de: 'German',
  es: 'Spanish',
  it: 'Italian',
  pt: 'Portuguese',
  nl: 'Dutch',
  ru: 'Russian',
  el: 'Greek',
  ar: 'Arabic',
  he: 'Hebrew',
  hi: 'Hindi',
  th: 'Thai',
  ko: 'Korean',
  ja: 'Japanese',
  zh: 'Chinese',
};

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** The conversation that asks for one follow-up. */
export function buildPrompt(ctx: DraftContext): { role: 'system' | 'user'; content: string }[] {
  const values = templateValues(ctx);
  const language =
    ctx.language === 'und'
      ? 'the language of the subject line'
      : (LANGUAGE_NAMES[ctx.language] ?? `the language with code ${ctx.language}`);
  const system = [
    'You write short, polite follow-up emails on behalf of the user, as a reply in an existing email thread.',
    `Write in ${language}.`,
    'Reply with the email body only: no subject line, no quotes, no markdown, no explanations.',
    'Never use placeholders such as [Name] or {{first_name}}: if a detail is unknown, write around it (greet without a name).',
    'At most 120 words. Do not invent facts, dates, meetings or attachments.',
    values.my_name ? `Sign with the name ${values.my_name}.` : 'Do not sign with a name.',
  ].join(' ');
  const facts = [
    `Subject of the thread: ${ctx.subject?.trim() || '(none)'}`,
    `Recipient: ${values.name ?? 'unknown name'}${values.company ? ` at ${values.company}` : ''} (${ctx.participants.slice(0, 3).join(', ') || 'address unknown'})`,
    `The user's last message was sent ${ctx.daysSince} day${ctx.daysSince === 1 ? '' : 's'} ago and has no reply.`,
    `This is follow-up number ${ctx.step}.${ctx.step >= 3 ? ' Make it a courteous last note.' : ''}`,
  ].join('\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: facts },
  ];
}

export class OpenAiDrafter {
  readonly #client: OpenAI;
  readonly #options: OpenAiDrafterOptions;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: OpenAiDrafterOptions) {
    this.#options = options;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#client = new OpenAI({
      // Local servers (Ollama, vLLM) take no key; the SDK insists on one.
      apiKey: options.apiKey || 'unused',
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      timeout: options.timeoutMs,
      maxRetries: 0,
    });
  }

  get model(): string {
    return this.#options.model;
  }

  /** A follow-up that passed the draft checks, or an AppError with a DRAFTER_* code. */
  async draft(ctx: DraftContext, signal?: AbortSignal): Promise<Draft> {
    const messages: { role: 'system' | 'user' | 'assistant'; content: string }[] = buildPrompt(ctx);
    let retries = 0;
    let regenerated = false;
    for (;;) {
      let text: string;
      try {
        const completion = await this.#client.chat.completions.create(
          { model: this.#options.model, messages, temperature: 0.4, max_tokens: 600 },
          { timeout: this.#options.timeoutMs, ...(signal ? { signal } : {}) },
        );
        text = completion.choices[0]?.message?.content ?? '';
      } catch (raw) {
        const error = parseOpenAiError(raw);
        if (signal?.aborted || !isRetryableDrafterError(error) || retries >= this.#options.maxRetries)
          throw error;
        await this.#sleep(this.#backoff(retries, error.retryAfter), signal);
        retries++;
        continue;
      }
      const draft: Draft = { subject: replySubject(ctx.subject), body: normalizeDraftBody(text) };
      const check = checkDraft(draft, ctx.language);
      if (check.ok) return draft;
      if (regenerated) {
        throw new AppError(
          'DRAFTER_FAILED',
          `The model's text failed the draft checks: ${check.problems.join('; ')}`,
        );
      }
      regenerated = true;
      messages.push(
        { role: 'assistant', content: text },
        {
          role: 'user',
          content: `That text cannot be sent: ${check.problems.join('; ')}. Write it again, following every instruction.`,
        },
      );
    }
  }

  /** Exponential backoff with full jitter from `baseBackoffMs`, or the server's Retry-After; both capped. */
  #backoff(retry: number, retryAfterSeconds: number | undefined): number {
    const max = this.#options.maxBackoffMs ?? 30_000;
    if (retryAfterSeconds !== undefined) return Math.min(max, retryAfterSeconds * 1000);
    const base = this.#options.baseBackoffMs ?? 500;
    const ceiling = Math.min(max, base * 2 ** retry);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}
