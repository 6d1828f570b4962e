/**
 * An SMTP server for tests (smtp-server) that delivers into Dovecot: mail to an address of a Dovecot user is
 * appended to that user's INBOX over IMAP. Authentication is checked against the Dovecot users, so a wrong
 * password is refused as a real submission server would (535).
 */
import { SMTPServer } from 'smtp-server';
import type { DovecotServer } from '../harness/dovecot.ts';

export interface SmtpRelay {
  port: number;
  /** Every message accepted: envelope and raw bytes. */
  received: { from: string; to: string[]; raw: Buffer }[];
  close(): Promise<void>;
}

export async function startSmtpRelay(
  dovecot: DovecotServer,
  /** Recipient address → Dovecot user (default: the address itself). */
  mailboxOf: (address: string) => string | undefined = (address) =>
    dovecot.users.some((u) => u.user === address) ? address : undefined,
): Promise<SmtpRelay> {
  const received: SmtpRelay['received'] = [];
  const server = new SMTPServer({
    secure: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      const ok = dovecot.users.some((u) => u.user === auth.username && u.password === auth.password);
      if (!ok) {
        const error = Object.assign(new Error('Invalid username or password'), { responseCode: 535 });
        callback(error);
        return;
      }
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        received.push({ from, to, raw });
        Promise.all(
          to.map((address) => {
            const user = mailboxOf(address);
            return user ? dovecot.deliver(user, raw) : undefined;
          }),
        ).then(
          () => callback(),
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
