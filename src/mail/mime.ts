/**
 * Mail text at the adapters' edge: header blocks and address lists in (as both adapters receive them), RFC 5322
 * messages out (nodemailer's composer), so the domain sees only plain values.
 */
import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { AUTO_HEADER_NAMES, type AutoHeaders } from '../domain/detection.ts';
import type { OutgoingMessage } from '../ports/mail-provider.ts';

/** `work` with the provider's error parser at the boundary: what it throws leaves as the parser's AppErrors. */
export function atBoundary(parse: (error: unknown) => unknown) {
  return async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw parse(error);
    }
  };
}

/** Header names sync reads, besides the envelope: threading and machine-sent mail. */
export const SYNC_HEADER_NAMES = ['message-id', 'in-reply-to', 'references', ...AUTO_HEADER_NAMES] as const;

/** A raw header block as name (lower case) → first value, folded lines joined. */
export function parseHeaderBlock(block: Buffer | string): Map<string, string> {
  const text = typeof block === 'string' ? block : block.toString('latin1');
  const headers = new Map<string, string>();
  let name: string | undefined;
  let value = '';
  const flush = () => {
    if (name !== undefined && !headers.has(name)) headers.set(name, value.trim());
  };
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if ((line[0] === ' ' || line[0] === '\t') && name !== undefined) {
      value += ` ${line.trim()}`;
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : undefined;
    value = colon > 0 ? line.slice(colon + 1) : '';
  }
  flush();
  return headers;
}

export function autoHeadersOf(get: (name: string) => string | undefined): AutoHeaders {
  const out: AutoHeaders = {};
  for (const name of AUTO_HEADER_NAMES) {
    const value = get(name);
    if (value !== undefined) out[name] = value.slice(0, 500);
  }
  return out;
}

/** Addresses of an address header, lower-cased (groups flattened, names dropped). */
export function parseAddresses(value: string | null | undefined): string[] {
  if (!value) return [];
  return addressparser(value, { flatten: true })
    .map((a) => a.address.trim().toLowerCase())
    .filter((a) => a.includes('@'));
}

/** ISO (milliseconds) of a date, or null when it is not one. */
export function isoOrNull(value: Date | string | number | null | undefined): string | null {
  if (value === null || value === undefined || value === '') return null;
  const date = value instanceof Date ? value : new Date(value);
  const ms = date.getTime();
  // Years 1..9999 only: what PostgreSQL and ISO 8601 both take.
  return Number.isNaN(ms) || ms < -62_135_596_800_000 || ms > 253_402_300_799_999 ? null : date.toISOString();
}

/** The RFC 5322 message for a send or a draft, with the given Message-ID and reply headers. */
export function composeMessage(message: OutgoingMessage, date: Date): Promise<Buffer> {
  return new MailComposer({
    from: message.from,
    to: message.to,
    ...(message.cc && message.cc.length > 0 ? { cc: message.cc } : {}),
    subject: message.subject,
    text: message.text,
    ...(message.html ? { html: message.html } : {}),
    messageId: message.messageId,
    date,
    ...(message.inReplyTo ? { inReplyTo: message.inReplyTo } : {}),
    ...(message.references && message.references.length > 0 ? { references: message.references } : {}),
  })
    .compile()
    .build();
}
