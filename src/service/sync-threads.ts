/**
 * How sync groups IMAP messages into threads, and names them: RFC 5256 REFERENCES over the headers
 * (domain/threading.ts), merged by subject only between threads that share a correspondent, in a deterministic
 * arrival order (arrival time, folder, UID, key: the same relative order for any subset of a mailbox). A thread's
 * id is `imap:{account tag}:{hash of its anchor}`, stable as its messages arrive in any order.
 */
import { createHash } from 'node:crypto';
import type { MailMessage } from '../domain/detection.ts';
import { type ThreadInput, threadMembers, threadMessages } from '../domain/threading.ts';

export function imapThreadGroups<M extends MailMessage>(
  account: { id: string; email: string },
  messages: Iterable<M>,
): Map<string, M[]> {
  const own = new Set([account.email.toLowerCase()]);
  const correspondents = (items: M[]) => {
    const set = new Set<string>();
    for (const m of items) for (const a of [m.from, ...m.to, ...m.cc]) if (a && !own.has(a)) set.add(a);
    return set;
  };
  const inputs: ThreadInput<M>[] = [];
  for (const m of messages) {
    inputs.push({
      item: m,
      messageId: m.messageId,
      inReplyTo: m.inReplyTo,
      references: m.references,
      subject: m.subject,
      sentAt: m.sentAt === null ? null : Date.parse(m.sentAt),
      receivedAt: Date.parse(m.receivedAt),
      order: 0,
    });
  }
  inputs.sort(
    (a, b) =>
      a.receivedAt - b.receivedAt ||
      (a.item.folder < b.item.folder ? -1 : a.item.folder > b.item.folder ? 1 : 0) ||
      (a.item.uid ?? 0) - (b.item.uid ?? 0) ||
      (a.item.key < b.item.key ? -1 : 1),
  );
  inputs.forEach((input, i) => {
    input.order = i + 1;
  });
  const roots = threadMessages(inputs, {
    // One subject sent to several people stays several threads.
    canMerge: (a, b) => {
      const left = correspondents(a);
      for (const address of correspondents(b)) if (left.has(address)) return true;
      return false;
    },
  });
  const tag = account.id.replace(/-/g, '').slice(0, 8);
  const groups = new Map<string, M[]>();
  for (const root of roots) {
    const items = threadMembers(root);
    const anchor = root.anchor ?? `key:${items[0]!.key}`;
    const threadId = `imap:${tag}:${createHash('sha256').update(anchor).digest('base64url').slice(0, 16)}`;
    const group = groups.get(threadId);
    if (group) group.push(...items);
    else groups.set(threadId, items);
  }
  return groups;
}
