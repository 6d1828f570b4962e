/**
 * Follow-up text, pure: templates with variables, and the checks every draft passes before it reaches a mailbox
 * (whoever wrote it: the language model or a template).
 *
 * Checks: not empty, at least MIN and at most MAX characters, no placeholder left (`[Name]`, `{{first_name}}`,
 * `{company}`, `<NAME>`, `%FIRSTNAME%`, `XXX`), and the same language as the thread.
 *
 * Language, a small heuristic: first the writing system (Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai,
 * Hangul, kana, Han), then for Latin text the most frequent of a short list of common words per language
 * (en, fr, de, es, it, pt, nl). A guess needs two common words and a clear lead over the next language, otherwise
 * the text is `und` (undetermined). Two texts disagree only when both are determined and differ; thread subjects
 * are short, so most of the time the thread's language is `und` and only the writing system is compared.
 */
import { z } from 'zod';
import { safeText } from './thread.ts';

export interface Draft {
  subject: string;
  body: string;
}

export interface DraftContext {
  /** The thread's subject as the mailbox has it. */
  subject: string | null;
  /** Correspondents of the thread (lower-case addresses). */
  participants: string[];
  /** The lead linked to the thread, if any. */
  lead: { name: string | null; company: string | null; email: string | null } | null;
  /** The follow-up number being written (1 = first follow-up). */
  step: number;
  /** When the user's last message in the thread was sent (ISO). */
  lastMessageAt: string;
  /** Days from that message to now. */
  daysSince: number;
  senderName: string | null;
  /** The thread's language as far as it can be told (see detectLanguage). */
  language: LanguageCode;
}

export const DRAFT_MIN_CHARS = 20;
export const DRAFT_MAX_CHARS = 2000;

// ---------------------------------------------------------------------------------------------------------------
// Language

const STOPWORDS: Record<string, readonly string[]> = {
  en: 'the and to of is you that it for on with are this be at have your we would could just my me if any there hi thanks regards about will was not from can let know'.split(
    ' ',
  ),
  fr: 'le la les des du et est un une pour pas que qui dans sur vous nous je avec au aux ce cette mon votre bonjour merci cordialement suis serait été être très'.split(
    ' ',
  ),
  de: 'der die das und ist nicht ich sie mit den dem ein eine zu auf für von wir ihr ihnen bitte danke hallo grüße mein meine wäre haben gerne'.split(
    ' ',
  ),
  es: 'el los las y en un una por para con es su sus mi hola gracias saludos usted le del al está estoy sería muy'.split(
    ' ',
  ),
  it: 'il lo gli di che per con non sono mi ti ciao grazie saluti buongiorno della del sarebbe molto questo questa'.split(
    ' ',
  ),
  pt: 'o os um uma para com não por meu minha olá obrigado obrigada atenciosamente você seria muito está'.split(
    ' ',
  ),
  nl: 'het een en van ik je niet dat op te met voor zijn hallo bedankt groeten graag heb wij u uw'.split(' '),
};
const STOPWORD_SETS = Object.fromEntries(Object.entries(STOPWORDS).map(([k, v]) => [k, new Set(v)]));

const SCRIPTS: [string, RegExp][] = [
  ['ru', /\p{Script=Cyrillic}/gu],
  ['el', /\p{Script=Greek}/gu],
  ['ar', /\p{Script=Arabic}/gu],
  ['he', /\p{Script=Hebrew}/gu],
  ['hi', /\p{Script=Devanagari}/gu],
  ['th', /\p{Script=Thai}/gu],
  ['ko', /\p{Script=Hangul}/gu],
  ['ja', /[\p{Script=Hiragana}\p{Script=Katakana}]/gu],
  ['zh', /\p{Script=Han}/gu],
];

/** A language code (en, fr…), a writing system's main language (ru for Cyrillic…), or `und`. */
export type LanguageCode = string;

function scriptOf(text: string): { script: string; share: number } {
  const letters = (text.match(/\p{L}/gu) ?? []).length;
  if (letters === 0) return { script: 'none', share: 0 };
  let best = { script: 'latin', share: (text.match(/\p{Script=Latin}/gu) ?? []).length / letters };
  for (const [code, pattern] of SCRIPTS) {
    const share = (text.match(pattern) ?? []).length / letters;
    // Japanese mixes kana and Han: any kana at all makes Han text Japanese.
    if (code === 'zh' && best.script === 'ja') continue;
    if (share > best.share || (code === 'ja' && share > 0.1)) best = { script: code, share };
  }
  return best;
}

/** The language of a text, or `und` when it cannot be told with confidence (see the header). */
export function detectLanguage(text: string): LanguageCode {
  const { script } = scriptOf(text);
  if (script === 'none') return 'und';
  if (script !== 'latin') return script;
  const words = text.toLowerCase().match(/\p{L}+/gu) ?? [];
  const scores = Object.keys(STOPWORDS).map((lang) => ({
    lang,
    score: words.filter((w) => STOPWORD_SETS[lang]!.has(w)).length,
  }));
  scores.sort((a, b) => b.score - a.score);
  const [first, second] = scores as [{ lang: string; score: number }, { lang: string; score: number }];
  if (first.score < 2 || first.score < second.score * 1.5) return 'und';
  return first.lang;
}

/** Whether two texts may be in the same language: they are unless both are determined and differ. */
export function sameLanguage(thread: LanguageCode, draft: LanguageCode): boolean {
  if (thread === 'und' || draft === 'und') {
    // Undetermined Latin text still disagrees with a determined other writing system, and the reverse.
    const latin = (l: LanguageCode) => l === 'und' || Object.hasOwn(STOPWORDS, l);
    return latin(thread) === latin(draft);
  }
  return thread === draft;
}

// ---------------------------------------------------------------------------------------------------------------
// Checks

const PLACEHOLDERS: [string, RegExp][] = [
  ['[…]', /\[(?=[^\]\n]*\p{L})[^\]\n]{1,40}\]/u],
  ['{{…}}', /\{\{[^}\n]{0,40}\}\}/],
  ['{…}', /\{[A-Za-z_][\w ]{0,30}\}/],
  ['<…>', /<(?:[A-Z][A-Z_ ]{2,30}|(?:your|recipient'?s?|their) (?:name|company|first name))>/i],
  ['%…%', /%[A-Z][A-Z_]{2,30}%/],
  ['XXX', /\bX{3,}\b|\bTBD\b|lorem ipsum/i],
];

export interface DraftCheck {
  ok: boolean;
  problems: string[];
}

/** The checks every draft passes before it reaches a mailbox. */
export function checkDraft(draft: Draft, threadLanguage: LanguageCode): DraftCheck {
  const problems: string[] = [];
  const body = draft.body.trim();
  if (body === '') problems.push('the body is empty');
  else if ([...body].length < DRAFT_MIN_CHARS)
    problems.push(`the body is shorter than ${DRAFT_MIN_CHARS} characters`);
  if ([...body].length > DRAFT_MAX_CHARS)
    problems.push(`the body is longer than ${DRAFT_MAX_CHARS} characters`);
  if (draft.subject.trim() === '') problems.push('the subject is empty');
  for (const [name, pattern] of PLACEHOLDERS) {
    const found = pattern.exec(`${draft.subject}\n${body}`);
    if (found) problems.push(`a placeholder is left in the text (${name}: ${JSON.stringify(found[0])})`);
  }
  if (body !== '') {
    const language = detectLanguage(body);
    if (!sameLanguage(threadLanguage, language)) {
      problems.push(`the text is in another language (${language}) than the thread (${threadLanguage})`);
    }
  }
  return { ok: problems.length === 0, problems };
}

/**
 * What a model writes around the text we asked for, taken away: code fences, surrounding quotes, a leading
 * "Subject: …" line, trailing spaces and runs of blank lines.
 */
export function normalizeDraftBody(text: string): string {
  let body = text.replace(/\r\n?/g, '\n').trim();
  body = body.replace(/^```[a-z]*\n([\s\S]*?)\n```$/i, '$1').trim();
  if (/^"[\s\S]*"$/.test(body) || /^“[\s\S]*”$/.test(body)) body = body.slice(1, -1).trim();
  body = body.replace(/^subject:[^\n]*\n+/i, '');
  return body
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The subject of a reply in the thread: the thread's subject with one reply prefix. */
export function replySubject(subject: string | null): string {
  const s = (subject ?? '').trim();
  if (s === '') return 'Following up';
  return /^(re|aw|sv|antw|r|réf|odp|vs)\s*:/i.test(s) ? s : `Re: ${s}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Templates

export const TEMPLATE_VARIABLES = [
  'first_name',
  'name',
  'company',
  'subject',
  'my_name',
  'days_since',
  'followup_number',
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

const VARIABLE = /\{\{\s*([a-z_]+)\s*(?:\|([^}\n]*))?\}\}/g;

export const followupTemplateSchema = z
  .strictObject({
    step: z
      .number()
      .int()
      .min(1)
      .max(10)
      .nullable()
      .describe('The follow-up number it is for; null = any step without a template of its own'),
    language: z
      .string()
      .regex(/^[a-z]{2}$/, 'must be a two-letter language code such as en')
      .nullable()
      .describe('Used for threads in this language; null = any language'),
    subject: safeText(300).nullable().describe('null = "Re: " and the thread subject'),
    body: safeText(DRAFT_MAX_CHARS).trim().min(1),
  })
  .superRefine((template, ctx) => {
    for (const [field, text] of [
      ['subject', template.subject ?? ''],
      ['body', template.body],
    ] as const) {
      for (const match of text.matchAll(VARIABLE)) {
        if (!(TEMPLATE_VARIABLES as readonly string[]).includes(match[1]!)) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `unknown variable {{${match[1]}}}; known: ${TEMPLATE_VARIABLES.join(', ')}`,
          });
        }
      }
    }
  });
export type FollowupTemplate = z.infer<typeof followupTemplateSchema>;
export const followupTemplatesSchema = z.strictObject({
  templates: z.array(followupTemplateSchema).max(50),
});

/** Values of the template variables for one thread. A variable without a value renders its default. */
export function templateValues(ctx: DraftContext): Record<TemplateVariable, string | null> {
  const name = ctx.lead?.name?.trim() || null;
  return {
    first_name: name ? (name.split(/\s+/)[0] ?? name) : null,
    name,
    company: ctx.lead?.company?.trim() || null,
    subject: ctx.subject?.trim() || null,
    my_name: ctx.senderName?.trim() || null,
    days_since: String(ctx.daysSince),
    followup_number: String(ctx.step),
  };
}

const VARIABLE_DEFAULTS: Record<string, Record<TemplateVariable, string>> = {
  en: {
    first_name: 'there',
    name: 'there',
    company: 'your team',
    subject: 'my last message',
    my_name: '',
    days_since: '',
    followup_number: '',
  },
  fr: {
    first_name: '',
    name: '',
    company: 'votre équipe',
    subject: 'mon dernier message',
    my_name: '',
    days_since: '',
    followup_number: '',
  },
  de: {
    first_name: '',
    name: '',
    company: 'Ihr Team',
    subject: 'meine letzte Nachricht',
    my_name: '',
    days_since: '',
    followup_number: '',
  },
  es: {
    first_name: '',
    name: '',
    company: 'su equipo',
    subject: 'mi último mensaje',
    my_name: '',
    days_since: '',
    followup_number: '',
  },
};

/** Fills `{{variable}}` and `{{variable|fallback}}`; a variable without value takes its fallback or default. */
export function renderTemplate(text: string, ctx: DraftContext, language: LanguageCode): string {
  const values = templateValues(ctx);
  const defaults = VARIABLE_DEFAULTS[language] ?? VARIABLE_DEFAULTS.en!;
  const rendered = text.replace(VARIABLE, (_all, name: string, fallback: string | undefined) => {
    const value = values[name as TemplateVariable];
    if (value) return value;
    return fallback !== undefined ? fallback.trim() : (defaults[name as TemplateVariable] ?? '');
  });
  // A greeting left without a name ("Hi ,", "Bonjour ,") loses the stray space.
  return rendered
    .replace(/[ \t]+([,!.])/g, '$1')
    .replace(/[ \t]+\n/g, '\n')
    .trim();
}

const BUILT_IN: Record<string, [string, string, string]> = {
  en: [
    'Hi {{first_name}},\n\nI wanted to follow up on my note below about "{{subject}}". Would you have a moment to take a look?\n\nBest regards,\n{{my_name}}',
    'Hi {{first_name}},\n\nJust bringing this back to the top of your inbox in case it got buried. I would be glad to hear your thoughts whenever you have a minute.\n\nThanks,\n{{my_name}}',
    'Hi {{first_name}},\n\nI do not want to crowd your inbox, so this will be my last note about "{{subject}}". If the timing is not right, no problem at all: feel free to reach out whenever it suits you.\n\nAll the best,\n{{my_name}}',
  ],
  fr: [
    'Bonjour {{first_name}},\n\nJe me permets de revenir vers vous au sujet de mon message ci-dessous ({{subject}}). Auriez-vous un moment pour y jeter un œil ?\n\nBien cordialement,\n{{my_name}}',
    'Bonjour {{first_name}},\n\nJe fais remonter ce message dans votre boîte de réception, au cas où il serait passé inaperçu. Je serais ravi d’avoir votre avis dès que vous aurez un moment.\n\nMerci,\n{{my_name}}',
    'Bonjour {{first_name}},\n\nJe ne veux pas encombrer votre boîte de réception : ce sera donc mon dernier message au sujet de {{subject}}. Si le moment est mal choisi, aucun souci, n’hésitez pas à revenir vers moi quand cela vous conviendra.\n\nBien à vous,\n{{my_name}}',
  ],
  de: [
    'Hallo {{first_name}},\n\nich wollte kurz an meine Nachricht unten zu „{{subject}}“ erinnern. Hätten Sie einen Moment, sie sich anzusehen?\n\nViele Grüße,\n{{my_name}}',
    'Hallo {{first_name}},\n\nich hole diese Nachricht noch einmal nach oben, falls sie untergegangen ist. Ich freue mich auf Ihre Rückmeldung, wann immer Sie Zeit haben.\n\nDanke und viele Grüße,\n{{my_name}}',
    'Hallo {{first_name}},\n\nich möchte Ihr Postfach nicht überfüllen, daher ist dies meine letzte Nachricht zu „{{subject}}“. Wenn es gerade nicht passt, ist das kein Problem: Melden Sie sich gerne, wann immer es Ihnen passt.\n\nBeste Grüße,\n{{my_name}}',
  ],
  es: [
    'Hola {{first_name}}:\n\nQuería hacer un seguimiento de mi mensaje de abajo sobre «{{subject}}». ¿Tendría un momento para echarle un vistazo?\n\nUn saludo,\n{{my_name}}',
    'Hola {{first_name}}:\n\nVuelvo a subir este mensaje en su bandeja de entrada por si se le pasó. Me encantaría conocer su opinión cuando tenga un momento.\n\nGracias,\n{{my_name}}',
    'Hola {{first_name}}:\n\nNo quiero llenar su bandeja de entrada, así que este será mi último mensaje sobre «{{subject}}». Si no es buen momento, no hay problema: escríbame cuando le venga bien.\n\nUn saludo,\n{{my_name}}',
  ],
};

/** The languages the built-in templates are written in. */
export const BUILT_IN_TEMPLATE_LANGUAGES = Object.keys(BUILT_IN);

/**
 * The template for a step and language: the user's (same step and language, same step any language, any step same
 * language, any step any language), else the built-in one in the thread's language (or English).
 */
export function pickTemplate(
  templates: readonly FollowupTemplate[],
  step: number,
  language: LanguageCode,
): { template: FollowupTemplate; builtIn: boolean } {
  const lang = language === 'und' ? null : language;
  const matches = (s: number | null, l: string | null) =>
    templates.find((t) => t.step === s && t.language === l);
  const own =
    (lang ? matches(step, lang) : undefined) ??
    matches(step, null) ??
    (lang ? matches(null, lang) : undefined) ??
    matches(null, null);
  if (own) return { template: own, builtIn: false };
  const builtIn = (builtInLanguage: string): { template: FollowupTemplate; builtIn: boolean } => {
    const bodies = BUILT_IN[builtInLanguage]!;
    return {
      template: {
        step,
        language: builtInLanguage,
        subject: null,
        body: bodies[Math.min(step, bodies.length) - 1]!,
      },
      builtIn: true,
    };
  };
  if (lang && BUILT_IN[lang]) return builtIn(lang);
  // A template of the user's in another language still beats ours in English; the language check decides.
  const other = templates.find((t) => t.step === step) ?? templates.find((t) => t.step === null);
  return other ? { template: other, builtIn: false } : builtIn('en');
}

/** A draft from a template (subject: the template's, or "Re: " and the thread subject). */
export function draftFromTemplate(template: FollowupTemplate, ctx: DraftContext): Draft {
  const language = template.language ?? (ctx.language === 'und' ? 'en' : ctx.language);
  return {
    subject: template.subject ? renderTemplate(template.subject, ctx, language) : replySubject(ctx.subject),
    body: renderTemplate(template.body, ctx, language),
  };
}
