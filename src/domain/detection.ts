/**
 * Thread detection, pure: from the messages of one mailbox thread to what the product tracks about it.
 *
 * - A thread is tracked when the user sent a message in it (a Sent-folder copy, Gmail's SENT label, or a From
 *   address of the user's).
 * - Every other message is classified: a bounce (delivery status notification), an auto-reply (RFC 3834
 *   Auto-Submitted, X-Autoreply/X-Autorespond, Precedence bulk/auto_reply/junk, out-of-office subjects in several
 *   languages), an inbound message (before the user's first message), or else a real reply.
 * - responseTimeHours: whole hours from the user's first message to the first real reply. replyRate: the share of
 *   the user's messages answered by a real reply before the user's next message, as a percentage (README,
 *   analytics). Neither counts auto-replies or bounces.
 * - A thread is system_generated when its first message carries a Message-ID the system generated
 *   (`<tt.{operation id}@{domain}>`, see systemMessageId).
 * - email_type comes from rules (first match wins, `manual` otherwise), configurable with MAIL_EMAIL_TYPE_RULES.
 * Times: a message's time is its Date header unless that is missing or more than a day after its arrival (a
 * sender's clock gone wrong), in which case the arrival time.
 */
import { z } from 'zod';
import { type EmailType, emailTypeSchema, type ThreadCreate } from './thread.ts';
import { firstMessageId } from './threading.ts';

/** Headers that tell machine-sent mail apart; names lower-case, values as sent. */
export type AutoHeaders = Partial<
  Record<
    | 'auto-submitted'
    | 'x-autoreply'
    | 'x-autorespond'
    | 'x-autoresponse'
    | 'precedence'
    | 'content-type'
    | 'x-failed-recipients',
    string
  >
>;

export const AUTO_HEADER_NAMES = [
  'auto-submitted',
  'x-autoreply',
  'x-autorespond',
  'x-autoresponse',
  'precedence',
  'content-type',
  'x-failed-recipients',
] as const satisfies readonly (keyof AutoHeaders)[];

/** One copy of a message in a synced folder (a Gmail message, or an IMAP message in Sent or INBOX). */
export interface MailMessage {
  /** The provider's key of this copy: a Gmail message id, or `{folder}:{uidvalidity}:{uid}`. */
  key: string;
  /** `gmail`, or the IMAP folder role (`sent`, `inbox`). */
  folder: string;
  /** Gmail: the full-sync epoch; IMAP: the folder's UIDVALIDITY. */
  generation: string;
  /** Gmail's thread id; null for IMAP (threads come from the headers). */
  providerThreadId: string | null;
  /** IMAP UID (arrival order); null for Gmail. */
  uid: number | null;
  /** Raw Message-ID, In-Reply-To and References header values. */
  messageId: string | null;
  inReplyTo: string | null;
  references: string | null;
  /** Decoded Subject; null when absent. */
  subject: string | null;
  /** Addresses lower-cased. */
  from: string | null;
  to: string[];
  cc: string[];
  /** The Date header (ISO); null when missing or invalid. */
  sentAt: string | null;
  /** Arrival (IMAP INTERNALDATE, Gmail internalDate), ISO. */
  receivedAt: string;
  /** In the Sent folder, or labelled SENT. */
  inSent: boolean;
  autoHeaders: AutoHeaders;
}

export type MessageKind = 'sent' | 'inbound' | 'reply' | 'auto_reply' | 'bounce';

/** A message of a thread after copies are merged (same Message-ID) and classified. */
export interface ClassifiedMessage {
  keys: string[];
  messageId: string | null;
  kind: MessageKind;
  at: string;
  from: string | null;
  subject: string | null;
  system: boolean;
}

export interface ThreadSummary {
  tracked: boolean;
  subject: string | null;
  participants: string[];
  messageCount: number;
  lastActivity: string | null;
  systemGenerated: boolean;
  emailType: EmailType;
  responseTimeHours: number | null;
  replyRate: number | null;
  /** The user's first message, or null. */
  firstSentAt: string | null;
  /** In time order. */
  messages: ClassifiedMessage[];
}

// ---------------------------------------------------------------------------------------------------------------
// System Message-IDs

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const SYSTEM_ID = new RegExp(`^tt\\.(${UUID})@[^@\\s>]+$`, 'i');

/**
 * The Message-ID of a message the system sends for write operation `opId` (a UUID): `<tt.{opId}@{domain}>`.
 * Deterministic, so a retried send carries the same id and is recognised in the mailbox as the same message.
 */
export function systemMessageId(opId: string, domain: string): string {
  if (!new RegExp(`^${UUID}$`, 'i').test(opId)) throw new Error('opId must be a UUID');
  if (!/^[A-Za-z0-9.-]+$/.test(domain)) throw new Error('domain must be a host name');
  return `<tt.${opId.toLowerCase()}@${domain.toLowerCase()}>`;
}

/** The operation id of a system-generated Message-ID header, or null. */
export function systemOperationId(messageIdHeader: string | null): string | null {
  const id = firstMessageId(messageIdHeader);
  return id === null ? null : (SYSTEM_ID.exec(id)?.[1]?.toLowerCase() ?? null);
}

// ---------------------------------------------------------------------------------------------------------------
// Auto-replies and bounces

const BOUNCE_SENDER = /^(mailer-daemon|postmaster|mail-delivery-subsystem|mailerdaemon)@/i;
const BOUNCE_SUBJECT = new RegExp(
  [
    'undeliver(ed|able)',
    'delivery status notification \\((failure|delay)\\)',
    'mail delivery (failed|failure|system)',
    'delivery (has )?failed',
    'delivery failure',
    'returned mail',
    'failure notice',
    'message not delivered',
    'non remis',
    'non distribuable',
    'unzustellbar',
    'nicht zustellbar',
    'no se puede entregar',
    'mensaje no entregado',
    'non recapitabile',
    'não entregue',
    'onbestelbaar',
  ].join('|'),
  'i',
);

const REPLY_PREFIX = '^\\s*(?:(?:re|aw|sv|antw|r|ref|réf|vs|odp)\\s*:\\s*)*';
const OUT_OF_OFFICE = new RegExp(
  `${REPLY_PREFIX}(?:${[
    // English
    'out of (the )?office',
    'automatic reply',
    'auto[- ]?reply',
    'auto[- ]?response',
    'auto[- ]?responder',
    'away from (the |my )?office',
    'on vacation',
    'on holiday',
    'on leave',
    'vacation reply',
    'i am (currently )?(out|away)',
    'ooo\\b',
    // French
    'absence du bureau',
    'r[ée]ponse automatique',
    'absent(e)?\\s*:',
    'en cong[ée]',
    // German
    'abwesenheitsnotiz',
    'automatische antwort',
    'abwesend\\s*:',
    'au(ß|ss)er haus',
    'nicht im b[üu]ro',
    // Spanish, Italian, Portuguese
    'respuesta autom[áa]tica',
    'fuera de (la )?oficina',
    'ausente\\s*:',
    'risposta automatica',
    'fuori ufficio',
    'assente\\s*:',
    'resposta autom[áa]tica',
    'aus[êe]ncia tempor[áa]ria',
    'fora do escrit[óo]rio',
    // Dutch, Scandinavian, Polish
    'automatisch antwoord',
    'afwezig\\s*:',
    'niet aanwezig',
    'automatiskt svar',
    'fr[åa]nvaro',
    'automatisk svar',
    'frav[æa]r',
    'ikke til stede',
    'odpowied[źz] automatyczna',
    'automatyczna odpowied[źz]',
    'poza biurem',
    'nieobecno[śs][ćc]',
    // Russian, Turkish
    'автоматический ответ',
    'автоответ',
    'вне офиса',
    'нет на месте',
    'otomatik (yan[ıi]t|cevap)',
    'ofis d[ıi][şs][ıi]nda',
    // Japanese, Chinese, Korean
    '自動返信',
    '自動応答',
    '不在',
    '自动回复',
    '自動回覆',
    '自动答复',
    '不在办公室',
    '자동 ?응답',
    '부재',
  ].join('|')})`,
  'i',
);

export type MessageNature = 'human' | 'auto_reply' | 'bounce';

/** Whether a message was written by a person, is an automatic reply, or reports a failed delivery. */
export function messageNature(message: Pick<MailMessage, 'from' | 'subject' | 'autoHeaders'>): MessageNature {
  const h = message.autoHeaders;
  const contentType = (h['content-type'] ?? '').toLowerCase();
  const report = /^multipart\/report\b/.test(contentType)
    ? (/report-type\s*=\s*"?([a-z-]+)/.exec(contentType)?.[1] ?? '')
    : '';
  if (
    report === 'delivery-status' ||
    h['x-failed-recipients'] !== undefined ||
    (message.from !== null && BOUNCE_SENDER.test(message.from)) ||
    (message.subject !== null &&
      BOUNCE_SUBJECT.test(message.subject) &&
      report !== 'disposition-notification')
  ) {
    return 'bounce';
  }
  const autoSubmitted = h['auto-submitted']?.trim().toLowerCase();
  const precedence = h.precedence?.trim().toLowerCase();
  if (
    report !== '' ||
    (autoSubmitted !== undefined && autoSubmitted !== '' && !autoSubmitted.startsWith('no')) ||
    isSet(h['x-autoreply']) ||
    isSet(h['x-autorespond']) ||
    isSet(h['x-autoresponse']) ||
    precedence === 'bulk' ||
    precedence === 'auto_reply' ||
    precedence === 'junk' ||
    (message.subject !== null && OUT_OF_OFFICE.test(message.subject))
  ) {
    return 'auto_reply';
  }
  return 'human';
}

function isSet(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  return v !== 'no' && v !== 'false' && v !== '0';
}

// ---------------------------------------------------------------------------------------------------------------
// Email type rules

const regexSource = z.string().refine((source) => {
  try {
    new RegExp(source, 'iu');
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

export const emailTypeRuleSchema = z.strictObject({
  type: emailTypeSchema,
  /** Matches the thread's subject (case-insensitive). */
  subject: regexSource.optional(),
  /** Matches any correspondent's address (case-insensitive). */
  participant: regexSource.optional(),
  /** The system sent a follow-up in the thread. */
  systemFollowup: z.boolean().optional(),
  /** The user wrote again before any real reply. */
  followedUp: z.boolean().optional(),
});
export type EmailTypeRule = z.infer<typeof emailTypeRuleSchema>;
export const emailTypeRulesSchema = z.array(emailTypeRuleSchema).max(100);

/** The default rules, in order (README: Mail accounts and sync). */
export const DEFAULT_EMAIL_TYPE_RULES: readonly EmailTypeRule[] = [
  {
    type: 'application',
    subject:
      '(?<![\\p{L}\\p{N}])(applications?|applying|apply|candidacy|candidate|cover letter|r[ée]sum[ée]|cv|job|position|vacancy|opening|internship|bewerbung|candidature|candidatura|solicitud)(?![\\p{L}\\p{N}])',
  },
  {
    type: 'application',
    participant:
      '@([a-z0-9-]+\\.)*(greenhouse\\.io|lever\\.co|workablemail\\.com|myworkday\\.com|ashbyhq\\.com|smartrecruiters\\.com|jobvite\\.com|icims\\.com|recruitee\\.com|teamtailor\\.com)$',
  },
  { type: 'auto_followup', systemFollowup: true },
  { type: 'followup', followedUp: true },
  {
    type: 'followup',
    subject:
      '^\\s*(follow(ing)?[- ]?up|checking in|circling back|bumping|gentle reminder|relance|nachfassen)\\b',
  },
];

interface RuleFacts {
  subject: string;
  participants: string[];
  systemFollowup: boolean;
  followedUp: boolean;
}

export function classifyEmailType(facts: RuleFacts, rules: readonly EmailTypeRule[]): EmailType {
  for (const rule of rules) {
    if (rule.subject !== undefined && !new RegExp(rule.subject, 'iu').test(facts.subject)) continue;
    if (rule.participant !== undefined) {
      const pattern = new RegExp(rule.participant, 'iu');
      if (!facts.participants.some((p) => pattern.test(p))) continue;
    }
    if (rule.systemFollowup !== undefined && rule.systemFollowup !== facts.systemFollowup) continue;
    if (rule.followedUp !== undefined && rule.followedUp !== facts.followedUp) continue;
    return rule.type;
  }
  return 'manual';
}

// ---------------------------------------------------------------------------------------------------------------
// Thread summary

export interface DetectionContext {
  /** The mailbox owner's addresses, lower-case. */
  userAddresses: readonly string[];
  rules: readonly EmailTypeRule[];
}

const DAY_MS = 86_400_000;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const LONE_SURROGATE = /\p{Surrogate}/u;

/** When a message happened: its Date header, unless missing or more than a day after its arrival. */
export function messageTime(message: Pick<MailMessage, 'sentAt' | 'receivedAt'>): string {
  if (message.sentAt === null) return message.receivedAt;
  const sent = Date.parse(message.sentAt);
  const received = Date.parse(message.receivedAt);
  return Number.isNaN(sent) || sent > received + DAY_MS ? message.receivedAt : message.sentAt;
}

/** Text the thread table can store: no NUL, no lone surrogates, at most `max` characters. */
export function storableText(text: string | null, max: number): string | null {
  if (text === null) return null;
  const clean = text.replaceAll('\u0000', '').replace(new RegExp(LONE_SURROGATE, 'gu'), '\uFFFD').trim();
  return [...clean].slice(0, max).join('');
}

/** Merges copies of the same message (same Message-ID: a Sent copy and an INBOX copy, or two generations). */
function mergeCopies(messages: readonly MailMessage[], isUser: (m: MailMessage) => boolean) {
  const byId = new Map<string, { message: MailMessage; keys: string[]; user: boolean }>();
  const merged: { message: MailMessage; keys: string[]; user: boolean }[] = [];
  for (const message of messages) {
    const id = firstMessageId(message.messageId);
    const existing = id === null ? undefined : byId.get(id);
    if (existing) {
      existing.keys.push(message.key);
      existing.user ||= isUser(message);
      if (message.receivedAt < existing.message.receivedAt) existing.message = message;
      continue;
    }
    const entry = { message, keys: [message.key], user: isUser(message) };
    if (id !== null) byId.set(id, entry);
    merged.push(entry);
  }
  return merged;
}

export function summarizeThread(messages: readonly MailMessage[], ctx: DetectionContext): ThreadSummary {
  const own = new Set(ctx.userAddresses.map((a) => a.toLowerCase()));
  const isUser = (m: MailMessage) => m.inSent || (m.from !== null && own.has(m.from.toLowerCase()));
  const copies = mergeCopies(messages, isUser)
    .map((c) => ({ ...c, at: messageTime(c.message) }))
    .sort(
      (a, b) =>
        Date.parse(a.at) - Date.parse(b.at) ||
        Number(b.user) - Number(a.user) ||
        (a.message.key < b.message.key ? -1 : 1),
    );

  let seenUser = false;
  const classified: ClassifiedMessage[] = copies.map(({ message, keys, user, at }) => {
    let kind: MessageKind;
    if (user) {
      kind = 'sent';
      seenUser = true;
    } else {
      const nature = messageNature(message);
      kind = nature !== 'human' ? nature : seenUser ? 'reply' : 'inbound';
    }
    return {
      keys,
      messageId: firstMessageId(message.messageId),
      kind,
      at,
      from: message.from,
      subject: message.subject,
      system: systemOperationId(message.messageId) !== null,
    };
  });

  const userMessages = classified.filter((m) => m.kind === 'sent');
  const tracked = userMessages.length > 0;
  const participants: string[] = [];
  for (const { message } of copies) {
    const nature = isUser(message) ? 'human' : messageNature(message);
    const addresses = [...(nature === 'bounce' ? [] : [message.from]), ...message.to, ...message.cc];
    for (const address of addresses) {
      if (address === null) continue;
      const a = address.toLowerCase();
      if (own.has(a) || !EMAIL.test(a) || a.length > 320 || participants.includes(a)) continue;
      if (participants.length < 200) participants.push(a);
    }
  }

  const firstSent = userMessages[0];
  const firstReply = firstSent ? classified.find((m) => m.kind === 'reply') : undefined;
  const responseTimeHours =
    firstSent && firstReply
      ? Math.max(0, Math.floor((Date.parse(firstReply.at) - Date.parse(firstSent.at)) / 3_600_000))
      : null;

  // Each user message is answered when a real reply comes before the user's next message.
  let answered = 0;
  let followedUp = false;
  let open = false;
  for (const m of classified) {
    if (m.kind === 'sent') {
      if (open) followedUp = true;
      open = true;
    } else if (m.kind === 'reply' && open) {
      answered++;
      open = false;
    }
  }
  const replyRate = tracked ? Math.round((answered / userMessages.length) * 10_000) / 100 : null;

  const subject = storableText(copies[0]?.message.subject ?? null, 2000);
  const systemFollowup = userMessages.slice(1).some((m) => m.system);
  return {
    tracked,
    subject,
    participants,
    messageCount: classified.length,
    lastActivity: classified.at(-1)?.at ?? null,
    systemGenerated: classified[0]?.system ?? false,
    emailType: classifyEmailType(
      { subject: subject ?? '', participants, systemFollowup, followedUp },
      ctx.rules,
    ),
    responseTimeHours,
    replyRate,
    firstSentAt: firstSent?.at ?? null,
    messages: classified,
  };
}

/** The lead of the first correspondent who is one (leads' emails compared case-insensitively). */
export function matchLead(
  participants: readonly string[],
  leads: readonly { id: string; email: string | null }[],
): string | null {
  for (const p of participants) {
    const lead = leads.find((l) => l.email !== null && l.email.toLowerCase() === p);
    if (lead) return lead.id;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// What to write

/** The thread fields mail sync owns, as it last computed them. */
export type ProjectedFields = Pick<
  ThreadSummary,
  | 'subject'
  | 'participants'
  | 'messageCount'
  | 'lastActivity'
  | 'systemGenerated'
  | 'emailType'
  | 'responseTimeHours'
  | 'replyRate'
> & { leadId: string | null };

export interface Projection {
  fields: ProjectedFields;
  /** The thread left the mailbox (or lost every message of the user's) and was marked deleted. */
  retired: boolean;
}

export function projectedFields(summary: ThreadSummary, leadId: string | null): ProjectedFields {
  return {
    subject: summary.subject,
    participants: summary.participants,
    messageCount: summary.messageCount,
    lastActivity: summary.lastActivity,
    systemGenerated: summary.systemGenerated,
    emailType: summary.emailType,
    leadId,
    responseTimeHours: summary.responseTimeHours,
    replyRate: summary.replyRate,
  };
}

export type ThreadWrite =
  | { kind: 'none' }
  | { kind: 'upsert'; input: ThreadCreate; projection: Projection }
  | { kind: 'retire'; projection: Projection };

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What sync writes for one thread, given what it wrote last time. Only fields whose computed value changed are
 * sent, so an edit the user made (a type, a lead, a subject) stays until the mailbox says something new about it.
 * `next` is null when the mailbox no longer has the thread as a tracked one.
 */
export function planThreadWrite(
  threadId: string,
  previous: Projection | undefined,
  next: ProjectedFields | null,
): ThreadWrite {
  if (next === null) {
    if (!previous || previous.retired) return { kind: 'none' };
    return { kind: 'retire', projection: { fields: previous.fields, retired: true } };
  }
  const projection: Projection = { fields: next, retired: false };
  if (!previous || previous.retired) {
    return {
      kind: 'upsert',
      projection,
      input: {
        threadId,
        tracked: true,
        ...(previous?.retired ? { status: 'active' as const } : {}),
        ...withoutNullLead(next),
      },
    };
  }
  const changed: Partial<ProjectedFields> = {};
  for (const key of Object.keys(next) as (keyof ProjectedFields)[]) {
    if (!same(previous.fields[key], next[key])) (changed as Record<string, unknown>)[key] = next[key];
  }
  if (Object.keys(changed).length === 0) return { kind: 'none' };
  return { kind: 'upsert', projection, input: { threadId, ...changed } };
}

/** A new thread leaves lead_id alone when no lead matches (a lead set beforehand through the API stays). */
function withoutNullLead(fields: ProjectedFields): Omit<ProjectedFields, 'leadId'> & { leadId?: string } {
  const { leadId, ...rest } = fields;
  return leadId === null ? rest : { ...rest, leadId };
}
