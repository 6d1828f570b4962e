/**
 * Drafting follow-ups with the real openai SDK against the in-repo OpenAI-compatible emulator: retries with backoff
 * on 429 and 5xx (Retry-After honoured), timeouts, dropped connections, output checks with one regeneration, and the
 * fall back to templates.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAiDrafter } from '../../src/ai/openai-drafter.ts';
import { TemplateDrafter } from '../../src/ai/template-drafter.ts';
import { AppError } from '../../src/domain/errors.ts';
import { type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai/openai-emulator.ts';
import { draftContext as context } from '../support/followup-fixtures.ts';

const KEY = 'sk-test-0123456789';
const good =
  'Hi Jane,\n\nI wanted to follow up on my note about the backend role. Would you have a moment to look at it this week?\n\nBest,\nSam';

describe('drafting with an OpenAI-compatible model', () => {
  let emulator: OpenAiEmulator;
  let waits: number[];
  const drafter = (overrides: Partial<ConstructorParameters<typeof OpenAiDrafter>[0]> = {}) =>
    new OpenAiDrafter({
      apiKey: KEY,
      baseURL: emulator.baseURL,
      model: 'test-model',
      timeoutMs: 2_000,
      maxRetries: 3,
      baseBackoffMs: 20,
      sleep: async (ms) => {
        waits.push(ms);
        await new Promise((r) => setTimeout(r, Math.min(ms, 50)));
      },
      ...overrides,
    });

  beforeAll(async () => {
    emulator = await startOpenAiEmulator({ apiKey: KEY });
  });
  afterAll(async () => {
    await emulator.close();
  });
  beforeEach(() => {
    emulator.reset();
    waits = [];
  });

  it('sends the thread context and returns the checked text as a reply in the thread', async () => {
    emulator.enqueue({ content: `Subject: Re: something\n\n${good}` });
    const draft = await drafter().draft(context());
    expect(draft).toEqual({ subject: 'Re: Application for the backend engineer position', body: good });
    const [request] = emulator.requests;
    expect(request!.model).toBe('test-model');
    expect(request!.authorization).toBe(`Bearer ${KEY}`);
    const prompt = request!.messages.map((m) => m.content).join('\n');
    expect(prompt).toContain('Subject of the thread: Application for the backend engineer position');
    expect(prompt).toContain('Jane Doe at Acme');
    expect(prompt).toContain('Write in English');
    expect(prompt).toContain('Sign with the name Sam');
    expect(prompt).toContain('3 days ago');
  });

  it('waits as told by Retry-After on a 429, then succeeds', async () => {
    emulator.enqueue({ status: 429, retryAfterSeconds: 1 }, { content: good });
    expect((await drafter().draft(context())).body).toBe(good);
    expect(emulator.requests).toHaveLength(2);
    expect(waits).toEqual([1000]);
  });

  it('backs off exponentially on 5xx answers', async () => {
    emulator.enqueue({ status: 500 }, { status: 502 }, { status: 503 }, { content: good });
    expect((await drafter().draft(context())).body).toBe(good);
    expect(emulator.requests).toHaveLength(4);
    expect(waits).toHaveLength(3);
    // Full jitter in the upper half: 10–20, 20–40, 40–80 ms.
    waits.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(10 * 2 ** i);
      expect(ms).toBeLessThanOrEqual(20 * 2 ** i);
    });
  });

  it('gives up after maxRetries with DRAFTER_UNAVAILABLE', async () => {
    emulator.enqueue({ status: 500 }, { status: 500 }, { status: 500 });
    const error = await drafter({ maxRetries: 2 })
      .draft(context())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('DRAFTER_UNAVAILABLE');
    expect(emulator.requests).toHaveLength(3);
  });

  it('times out a slow answer and retries it', async () => {
    emulator.enqueue({ content: good, delayMs: 1_500 }, { content: good });
    const started = Date.now();
    expect((await drafter({ timeoutMs: 300 }).draft(context())).body).toBe(good);
    expect(emulator.requests).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(1_400);
  });

  it('retries a dropped connection', async () => {
    emulator.enqueue({ drop: true }, { content: good });
    expect((await drafter().draft(context())).body).toBe(good);
    expect(emulator.requests).toHaveLength(2);
  });

  it('does not retry a refused key (DRAFTER_FAILED)', async () => {
    const error = await drafter({ apiKey: 'sk-wrong' })
      .draft(context())
      .catch((e: unknown) => e);
    expect((error as AppError).code).toBe('DRAFTER_FAILED');
    expect(waits).toEqual([]);
  });

  it('asks again once when the text fails the checks, naming the problem', async () => {
    emulator.enqueue(
      { content: 'Hi [Name],\n\nJust checking in on my application. Any news?\n\nBest' },
      { content: good },
    );
    expect((await drafter().draft(context())).body).toBe(good);
    const second = emulator.requests[1]!.messages.at(-1)!.content;
    expect(second).toContain('placeholder');
    expect(second).toContain('[Name]');
  });

  it('gives up on a model that keeps failing the checks', async () => {
    emulator.enqueue({ content: '   ' }, { content: 'Hi {{first_name}}, any news on my application?' });
    const error = await drafter()
      .draft(context())
      .catch((e: unknown) => e);
    expect((error as AppError).code).toBe('DRAFTER_FAILED');
    expect((error as AppError).message).toContain('placeholder');
  });

  it('stops when cancelled', async () => {
    emulator.enqueue({ hang: true });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const error = await drafter()
      .draft(context(), abort.signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(emulator.requests).toHaveLength(1);
  });

  describe('with templates as the fallback', () => {
    it('uses the model when it gives a good text', async () => {
      emulator.enqueue({ content: good });
      const result = await new TemplateDrafter({ model: drafter() }).draft({
        context: context(),
        templates: [],
        useModel: true,
      });
      expect(result).toMatchObject({ drafter: 'openai', body: good });
    });

    it('falls back to a template when the model is down, saying why', async () => {
      emulator.enqueue({ status: 503 }, { status: 503 });
      const result = await new TemplateDrafter({ model: drafter({ maxRetries: 1 }) }).draft({
        context: context(),
        templates: [
          { step: null, language: null, subject: null, body: 'Hi {{first_name}}, any news on {{subject}}?' },
        ],
        useModel: true,
      });
      expect(result).toEqual({
        drafter: 'template',
        subject: 'Re: Application for the backend engineer position',
        body: 'Hi Jane, any news on Application for the backend engineer position?',
        fallbackReason: expect.stringContaining('DRAFTER_UNAVAILABLE'),
      });
    });

    it('falls back to the thread’s language when the model writes in another one', async () => {
      const french = context({
        subject: 'Candidature pour le poste de développeur',
        language: 'fr',
        lead: null,
      });
      emulator.enqueue({ content: good }, { content: good });
      const result = await new TemplateDrafter({ model: drafter() }).draft({
        context: french,
        templates: [],
        useModel: true,
      });
      expect(result.drafter).toBe('template');
      expect(result.body).toMatch(/^Bonjour,\n\nJe me permets de revenir vers vous/);
      expect(result.fallbackReason).toContain('another language');
    });

    it('uses templates only when the policy says so, or without a model', async () => {
      const withModel = await new TemplateDrafter({ model: drafter() }).draft({
        context: context(),
        templates: [],
        useModel: false,
      });
      const without = await new TemplateDrafter().draft({
        context: context(),
        templates: [],
        useModel: true,
      });
      expect(withModel.drafter).toBe('template');
      expect(without.drafter).toBe('template');
      expect(emulator.requests).toHaveLength(0);
    });

    it('refuses to return a template that fails the checks', async () => {
      const error = await new TemplateDrafter()
        .draft({
          context: context(),
          templates: [
            { step: null, language: null, subject: null, body: 'Hi, any news about the role at [Company]?' },
          ],
          useModel: false,
        })
        .catch((e: unknown) => e);
      expect((error as AppError).code).toBe('DRAFT_REJECTED');
    });
  });
});
