// Throwaway Dovecot IMAP servers for tests (Debian dovecot-imapd), on a free loopback port, in a temp dir.
// Invariants:
// - The configuration is self-contained (dovecot -c <our file>); nothing under /etc/dovecot is read or written,
//   and base_dir/state_dir/logs/mail all live in the temp dir, so several servers can run side by side.
// - Plain IMAP only (ssl = no, imaps port 0), plaintext login allowed: the product's IMAP client is tested
//   against a server that behaves like a real one, not against TLS setup.
// - Every user has INBOX plus Drafts/Sent/Trash/Junk carrying their special-use flags, so code that finds the
//   Sent folder by \Sent (as Gmail and most servers require) is exercised.
// - As root, mail processes run as nobody:nogroup (Dovecot refuses root for mail); otherwise everything runs
//   as the current user.
// - The master runs in the foreground as our child. stop() kills the whole process tree at once (see killTree);
//   process exit and a watchdog (see proc.ts) do the same if a test forgets stop() or the process dies.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { ImapFlowOptions } from 'imapflow';
import { freePort } from './free-port.ts';
import {
  childPids,
  isRoot,
  makeTempDir,
  onProcessExit,
  probeTcp,
  sh,
  signal,
  startWatchdog,
  waitForExit,
  waitUntil,
} from './proc.ts';

export interface DovecotUser {
  user: string;
  password: string;
}

export interface DeliverOptions {
  /** Default INBOX. `Sent` means the folder flagged \Sent, whatever its name. */
  folder?: 'INBOX' | 'Sent';
  /** IMAP flags to set; default none for INBOX and \Seen for Sent. */
  flags?: string[];
  /** Internal date of the message; default now. */
  date?: Date;
}

export interface DovecotServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly users: readonly DovecotUser[];
  /** Appends a raw RFC 822 message to the user's INBOX or \Sent folder over IMAP; returns its UID. */
  deliver(user: string, rawMessage: string | Buffer, opts?: DeliverOptions): Promise<{ uid?: number }>;
  /** Options for `new ImapFlow(...)` that log in as `user` (logger off, no TLS). */
  clientOptions(user: string): ImapFlowOptions;
  /** Stops the server and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export const DOVECOT_BINARY = process.env.TEST_DOVECOT_BINARY ?? '/usr/sbin/dovecot';
const IMAP_BINARY = '/usr/lib/dovecot/imap';

/** Whether a Dovecot with the IMAP server is installed (dovecot-imapd). Synchronous. */
export function dovecotInstalled(): boolean {
  return (
    existsSync(DOVECOT_BINARY) && (process.env.TEST_DOVECOT_BINARY !== undefined || existsSync(IMAP_BINARY))
  );
}

function idOf(args: string[]): string {
  return execFileSync('id', args, { encoding: 'utf8' }).trim();
}

function config(dir: string, port: number): string {
  const me = userInfo();
  // Numeric ids: the name of nobody's group differs between distributions (nogroup, nobody).
  const mailUser = isRoot ? idOf(['-u', 'nobody']) : me.username;
  const mailGroup = isRoot ? idOf(['-g', 'nobody']) : idOf(['-gn']);
  const rootless = isRoot
    ? ''
    : `default_internal_user = ${me.username}\ndefault_login_user = ${me.username}\n` +
      `default_internal_group = ${mailGroup}\n`;
  // Only root may chroot; without root the login and anvil processes run unchrooted.
  const noChroot = isRoot ? '' : '  chroot =\n';
  const specialUse = (name: string) =>
    `  mailbox ${name} {\n    special_use = \\${name}\n    auto = subscribe\n  }\n`;
  return `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
${rootless}protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:${dir}/mail/%u/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=${mailUser} gid=${mailGroup} home=${dir}/mail/%u
}
namespace inbox {
  inbox = yes
${['Drafts', 'Sent', 'Trash', 'Junk'].map(specialUse).join('')}}
# Failed logins must not slow down later ones: no auth penalty (anvil) and no failure delay.
service anvil {
${noChroot}  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
${noChroot}  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
`;
}

/**
 * SIGTERM to the master alone takes about a second (it waits for its children), and signalling the children
 * too races with the master restarting them. A throwaway server has no state worth a graceful shutdown, so:
 * freeze the master (it can no longer restart anything), kill its children while they are still listed as its
 * children, then kill it.
 */
function killTree(pid: number): void {
  signal(pid, 'SIGSTOP');
  for (const child of childPids(pid)) signal(child, 'SIGKILL');
  signal(pid, 'SIGKILL');
}

function checkUser(u: DovecotUser): void {
  if (!/^[A-Za-z0-9._@+-]+$/.test(u.user)) throw new Error(`unsupported Dovecot user name: ${u.user}`);
  if (/[:\r\n]/.test(u.password)) throw new Error(`unsupported password for ${u.user} (no ':' or newline)`);
}

class Dovecot implements DovecotServer {
  readonly host = '127.0.0.1' as const;
  port: number;
  private child: ChildProcess | undefined;
  private stopping: Promise<void> | undefined;
  private readonly watchdog;
  private readonly unregisterExit: () => void;

  constructor(
    private readonly dir: string,
    port: number,
    readonly users: readonly DovecotUser[],
  ) {
    this.port = port;
    const pidFile = join(dir, 'run', 'master.pid');
    // The exit hook only kills the server and leaves the removal of the dir to the watchdog: a directory removed
    // before the processes are gone could be recreated by their last log lines.
    this.watchdog = startWatchdog(
      `P=$(cat ${sh(pidFile)} 2>/dev/null); if [ -n "$P" ]; then kill -STOP "$P"; pkill -KILL -P "$P"; ` +
        `kill -KILL "$P"; sleep 0.5; fi 2>/dev/null; rm -rf ${sh(dir)}`,
    );
    this.unregisterExit = onProcessExit(() => {
      if (this.child?.pid !== undefined) killTree(this.child.pid);
    });
  }

  private get confFile(): string {
    return join(this.dir, 'dovecot.conf');
  }

  private async logTail(): Promise<string> {
    try {
      return (await readFile(join(this.dir, 'dovecot.log'), 'utf8')).split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  }

  /** Starts the master; a port taken between freePort() and the bind is retried on a fresh port. */
  async firstStart(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await writeFile(this.confFile, config(this.dir, this.port));
      try {
        await this.start();
        return;
      } catch (err) {
        if (attempt >= 5 || !/Address already in use/.test((err as Error).message)) throw err;
        this.port = await freePort();
      }
    }
  }

  private async start(): Promise<void> {
    let stderr = '';
    const child = spawn(DOVECOT_BINARY, ['-F', '-c', this.confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('error', (err) => {
      stderr += String(err);
    });
    this.child = child;
    let ok = false;
    await waitUntil(`Dovecot IMAP greeting on port ${this.port}`, 15_000, async () => {
      if (child.exitCode !== null || child.signalCode !== null) return true;
      ok = await probeTcp(this.port, { expect: /^\* OK/ });
      return ok;
    });
    if (!ok) {
      throw new Error(
        `dovecot exited during start (port ${this.port}): ${stderr.trim()}\n${await this.logTail()}`,
      );
    }
  }

  private password(user: string): string {
    const found = this.users.find((u) => u.user === user);
    if (!found)
      throw new Error(`no Dovecot user ${user} (users: ${this.users.map((u) => u.user).join(', ')})`);
    return found.password;
  }

  clientOptions(user: string): ImapFlowOptions {
    return {
      host: this.host,
      port: this.port,
      secure: false,
      doSTARTTLS: false,
      auth: { user, pass: this.password(user) },
      logger: false,
    };
  }

  async deliver(
    user: string,
    rawMessage: string | Buffer,
    opts: DeliverOptions = {},
  ): Promise<{ uid?: number }> {
    // Loaded here so that probing for Dovecot (require-services.ts) stays cheap.
    const { ImapFlow } = await import('imapflow');
    const client = new ImapFlow(this.clientOptions(user));
    await client.connect();
    try {
      let path = 'INBOX';
      if (opts.folder === 'Sent') {
        const sent = (await client.list()).find((box) => box.specialUse === '\\Sent');
        if (!sent) throw new Error(`no \\Sent folder for ${user}`);
        path = sent.path;
      }
      const flags = opts.flags ?? (opts.folder === 'Sent' ? ['\\Seen'] : []);
      const result = await client.append(path, rawMessage, flags, opts.date);
      if (!result) throw new Error(`IMAP APPEND to ${path} failed for ${user}`);
      return { uid: result.uid };
    } finally {
      await client.logout().catch(() => client.close());
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopForGood();
    return this.stopping;
  }

  private async stopForGood(): Promise<void> {
    try {
      const child = this.child;
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        killTree(child.pid);
        await waitForExit(child, 10_000);
      }
      await rm(this.dir, { recursive: true, force: true });
    } finally {
      this.unregisterExit();
      this.watchdog.cancel();
    }
  }
}

/** Starts a throwaway Dovecot IMAP server with the given users; resolves once it greets on its port. */
export async function startDovecot(opts: { users: DovecotUser[] }): Promise<DovecotServer> {
  if (!dovecotInstalled())
    throw new Error('no Dovecot IMAP server: install the Debian package dovecot-imapd');
  opts.users.forEach(checkUser);
  const dir = await makeTempDir('tt-dovecot');
  // Mail processes run as nobody and must be able to reach their mail dir under ours.
  await chmod(dir, 0o755);
  const mailDir = join(dir, 'mail');
  await mkdir(mailDir);
  if (isRoot) await chown(mailDir, Number(idOf(['-u', 'nobody'])), Number(idOf(['-g', 'nobody'])));
  // Readable by all: Dovecot's auth process does not run as root. The passwords are throwaway test ones.
  await writeFile(join(dir, 'users'), opts.users.map((u) => `${u.user}:{PLAIN}${u.password}\n`).join(''), {
    mode: 0o644,
  });
  const server = new Dovecot(dir, await freePort(), [...opts.users]);
  try {
    await server.firstStart();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
