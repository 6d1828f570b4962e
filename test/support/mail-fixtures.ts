/** Loading a corpus into a mailbox: Dovecot (over IMAP) or the Gmail emulator. */
import { ImapFlow } from 'imapflow';
import type { GmailEmulator } from '../emulators/gmail/gmail-emulator.ts';
import type { DovecotServer } from '../harness/dovecot.ts';
import { type Corpus, USER } from './mail-corpus.ts';
import type { SmtpRelay } from './smtp-relay.ts';

/**
 * Appends the corpus's messages to the user's Sent and INBOX, in order; over several connections at once when
 * `lanes` > 1 (Dovecot syncs each APPEND to disk, so one connection is slow; UIDs then interleave).
 */
export async function appendToDovecot(dovecot: DovecotServer, corpus: Corpus, lanes = 1): Promise<void> {
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const client = new ImapFlow(dovecot.clientOptions(USER));
      await client.connect();
      try {
        const sent = (await client.list()).find((b) => b.specialUse === '\\Sent')!.path;
        for (const [i, m] of corpus.messages.entries()) {
          if (i % lanes !== lane) continue;
          const toSent = m.folder === 'Sent';
          await client.append(toSent ? sent : 'INBOX', m.raw, toSent ? ['\\Seen'] : [], m.date);
        }
      } finally {
        await client.logout();
      }
    }),
  );
}

/** Delivers the corpus into the emulator's mailbox, each intended thread as one Gmail thread. */
export function loadIntoEmulator(emulator: GmailEmulator, corpus: Corpus): void {
  for (const m of corpus.messages) {
    emulator.deliver(USER, m.raw, {
      labels: [m.folder === 'Sent' ? 'SENT' : 'INBOX'],
      internalDate: m.date,
      ...(m.thread >= 0 ? { threadKey: String(m.thread) } : {}),
    });
  }
}

/** The IMAP and SMTP servers of an account on the test Dovecot, sending through the relay (plain, loopback). */
export function loopbackServers(dovecot: DovecotServer, relay: SmtpRelay, username = USER) {
  return {
    imapHost: '127.0.0.1',
    imapPort: dovecot.port,
    imapSecure: false,
    smtpHost: '127.0.0.1',
    smtpPort: relay.port,
    smtpSecure: false,
    username,
  };
}
