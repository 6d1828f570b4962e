import { describe, expect, it } from 'vitest';
import { draftContext as context } from '../../test/support/followup-fixtures.ts';
import {
  checkDraft,
  detectLanguage,
  draftFromTemplate,
  type FollowupTemplate,
  followupTemplateSchema,
  normalizeDraftBody,
  pickTemplate,
  renderTemplate,
  replySubject,
  sameLanguage,
} from './followup-draft.ts';
import { classifyPixelLoad, openRatePercent } from './followup-open-tracking.ts';

const fine =
  'Hi Jane,\n\nI wanted to follow up on my note about the position. Would you have a moment this week?\n\nBest,\nSam';

describe('language heuristic', () => {
  it.each([
    ['Application for the backend engineer position at your company', 'en'],
    ['Candidature pour le poste de développeur dans votre équipe', 'fr'],
    ['Bewerbung für die Stelle als Entwickler in Ihrem Team', 'de'],
    ['Solicitud para el puesto de desarrollador en su empresa', 'es'],
    ['Candidatura per il ruolo di sviluppatore della vostra azienda', 'it'],
    ['Отклик на вакансию разработчика', 'ru'],
    ['エンジニア職への応募について', 'ja'],
    ['关于工程师职位的申请', 'zh'],
    ['개발자 채용 지원', 'ko'],
    ['Backend engineer', 'und'],
    ['', 'und'],
  ])('%j is %s', (text, language) => {
    expect(detectLanguage(text)).toBe(language);
  });

  it.each([
    ['en', 'en', true],
    ['fr', 'en', false],
    ['und', 'en', true],
    ['und', 'ru', false],
    ['ja', 'und', false],
    ['ru', 'ru', true],
  ])('thread %s and draft %s agree: %s', (thread, draft, same) => {
    expect(sameLanguage(thread, draft)).toBe(same);
  });
});

describe('draft checks', () => {
  it('accepts a plain follow-up', () => {
    expect(checkDraft({ subject: 'Re: Application', body: fine }, 'en')).toEqual({ ok: true, problems: [] });
  });

  it.each([
    ['an empty body', '   ', 'empty'],
    ['a body too short to say anything', 'Any news?', 'shorter'],
    ['a body beyond the length limit', `${fine}\n${'More words. '.repeat(200)}`, 'longer'],
    ['[Name]', fine.replace('Jane', '[Name]'), '[…]'],
    ['[Your Name]', fine.replace('Sam', '[Your Name]'), '[…]'],
    ['{{first_name}}', fine.replace('Jane', '{{first_name}}'), '{{…}}'],
    ['{company}', fine.replace('the position', 'the position at {company}'), '{…}'],
    ['<NAME>', fine.replace('Jane', '<NAME>'), '<…>'],
    ['%FIRSTNAME%', fine.replace('Jane', '%FIRSTNAME%'), '%…%'],
    ['XXX', fine.replace('this week', 'on XXX'), 'XXX'],
    [
      'another language than the thread',
      'Bonjour Jane,\n\nJe me permets de revenir vers vous au sujet de ma candidature pour le poste. Merci !',
      'another language',
    ],
  ])('refuses %s', (_name, body, problem) => {
    const result = checkDraft({ subject: 'Re: Application', body }, 'en');
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toContain(problem);
  });

  it('refuses an empty subject', () => {
    expect(checkDraft({ subject: ' ', body: fine }, 'en').problems).toContain('the subject is empty');
  });

  it('takes away what models wrap around the text', () => {
    expect(normalizeDraftBody('```\nSubject: Re: hi\n\nHello Jane,   \n\n\n\nThanks\n```')).toBe(
      'Hello Jane,\n\nThanks',
    );
    expect(normalizeDraftBody('"Hello Jane,\nThanks"')).toBe('Hello Jane,\nThanks');
  });

  it.each([
    ['Application', 'Re: Application'],
    ['Re: Application', 'Re: Application'],
    ['AW: Bewerbung', 'AW: Bewerbung'],
    ['', 'Following up'],
    [null, 'Following up'],
  ])('reply subject of %j is %j', (subject, expected) => {
    expect(replySubject(subject)).toBe(expected);
  });
});

describe('templates', () => {
  it('fills variables, with fallbacks and defaults for missing values', () => {
    const ctx = context({ lead: null, senderName: null });
    expect(renderTemplate('Hi {{first_name}}, re {{subject}} ({{days_since}} days)', context(), 'en')).toBe(
      'Hi Jane, re Application for the backend engineer position (3 days)',
    );
    expect(renderTemplate('Hi {{first_name}},', ctx, 'en')).toBe('Hi there,');
    expect(renderTemplate('Hi {{ first_name | friend }}!', ctx, 'en')).toBe('Hi friend!');
    expect(renderTemplate('Bonjour {{first_name}},', ctx, 'fr')).toBe('Bonjour,');
    expect(renderTemplate('Thanks,\n{{my_name}}', ctx, 'en')).toBe('Thanks,');
  });

  it('refuses templates with unknown variables', () => {
    const result = followupTemplateSchema.safeParse({
      step: 1,
      language: null,
      subject: null,
      body: 'Hi {{firstname}}',
    });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.message).toContain('unknown variable {{firstname}}');
  });

  const mine = (step: number | null, language: string | null, body: string): FollowupTemplate => ({
    step,
    language,
    subject: null,
    body,
  });

  it.each([
    [
      'same step and language first',
      [mine(1, 'en', 'A'), mine(1, null, 'B'), mine(null, 'en', 'C')],
      1,
      'en',
      'A',
    ],
    ['then same step, any language', [mine(1, null, 'B'), mine(null, 'en', 'C')], 1, 'en', 'B'],
    ['then any step, same language', [mine(null, 'en', 'C'), mine(null, null, 'D')], 2, 'en', 'C'],
    ['then the catch-all', [mine(2, 'en', 'E'), mine(null, null, 'D')], 1, 'en', 'D'],
    ['then ours in the thread language', [mine(1, 'en', 'A')], 1, 'fr', 'built-in fr'],
    ['then the user’s in another language', [mine(1, 'en', 'A')], 1, 'it', 'A'],
    ['ours in English when nothing else', [], 3, 'und', 'built-in en'],
  ])('picks %s', (_name, templates, step, language, expected) => {
    const { template, builtIn } = pickTemplate(templates, step, language);
    expect(builtIn ? `built-in ${template.language}` : template.body).toBe(expected);
  });

  it.each(['en', 'fr', 'de', 'es'])('built-in templates in %s pass the checks for every step', (language) => {
    for (const step of [1, 2, 3, 4]) {
      for (const lead of [null, { name: 'Jane Doe', company: null, email: null }]) {
        const ctx = context({ step, language, lead, subject: 'Projet', senderName: null });
        const draft = draftFromTemplate(pickTemplate([], step, language).template, ctx);
        expect(checkDraft(draft, language), `${language} step ${step}: ${draft.body}`).toEqual({
          ok: true,
          problems: [],
        });
        expect(detectLanguage(draft.body)).toBe(language);
      }
    }
  });
});

describe('open tracking', () => {
  const sentAt = new Date('2026-06-01T10:00:00Z');
  const at = (seconds: number) => new Date(sentAt.getTime() + seconds * 1000);
  const browser = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)';
  it.each([
    ['a mail client after the grace period', at(300), '203.0.113.9', browser, 'counted'],
    ['anything within the grace period', at(5), '203.0.113.9', browser, 'too_soon'],
    ['Apple Mail Privacy Protection by network', at(300), '17.58.100.1', browser, 'privacy_proxy'],
    ['Apple Mail Privacy Protection by IPv6 relay', at(300), '2a01:b740:a42::1', browser, 'privacy_proxy'],
    [
      'Apple Mail Privacy Protection by its bare agent',
      at(300),
      '203.0.113.9',
      'Mozilla/5.0',
      'privacy_proxy',
    ],
    [
      'Google’s image proxy displaying the message in Gmail',
      at(300),
      '66.249.84.1',
      'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
      'counted',
    ],
    [
      'Google’s image proxy prefetching at delivery',
      at(3),
      '66.249.84.1',
      'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
      'too_soon',
    ],
    ['a security scanner', at(300), '198.51.100.7', 'Mozilla/5.0 (compatible; Barracuda)', 'scanner'],
    ['a script', at(300), '198.51.100.7', 'python-requests/2.31', 'scanner'],
    ['no user agent', at(300), '198.51.100.7', null, 'no_user_agent'],
  ])('%s', (_name, when, ip, userAgent, expected) => {
    const verdict = classifyPixelLoad({ at: when, sentAt, ip, userAgent }, 60);
    expect(verdict.counted ? 'counted' : verdict.reason).toBe(expected);
  });

  it.each([
    [0, 0, null],
    [1, 0, 0],
    [1, 1, 100],
    [3, 1, 33.33],
    [2, 5, 100],
  ])('open rate of %i tracked, %i opened is %s', (tracked, opened, rate) => {
    expect(openRatePercent(tracked, opened)).toBe(rate);
  });
});
