/**
 * Header threading, pure: RFC 5256 `REFERENCES` (the JWZ algorithm) exactly as Dovecot implements it for
 * `UID THREAD REFERENCES`, which the integration suite uses as the oracle.
 *
 * Invariants (each one is what Dovecot does, see test/integration/threading-dovecot.test.ts):
 * - Messages are linked in arrival order (`order`, the IMAP UID). A Message-ID is the first valid `<id@host>` of the
 *   header; a message without one, or with one already taken by an earlier message, stands alone.
 * - References (or, when References has no valid id, the first id of In-Reply-To) link each id to the next; an
 *   existing parent link is never replaced by a later References header, and no link may create a loop. A message's
 *   own last reference does replace a parent presumed from other messages' References.
 * - Dummy containers (ids only referenced) are dropped, their messages attached to the nearest real ancestor; a
 *   dummy root stays only when it holds two or more messages.
 * - Siblings and roots are ordered by sent date (the Date header; the arrival date when it is missing), then order.
 * - Roots whose base subjects (RFC 5256 section 2.1) are equal are merged, by RFC 5256 step 5 rules. `canMerge`
 *   narrows that for the product (one subject sent to many people must stay many threads); without it the
 *   grouping is exactly Dovecot's.
 */

export interface ThreadInput<T> {
  item: T;
  /** Raw header values; null when the header is absent. */
  messageId: string | null;
  inReplyTo: string | null;
  references: string | null;
  /** The Subject header, decoded (RFC 2047); null when absent. */
  subject: string | null;
  /** The Date header in epoch ms; null when missing or unparsable. */
  sentAt: number | null;
  /** Arrival time in epoch ms (IMAP INTERNALDATE). */
  receivedAt: number;
  /** Arrival order, unique (the IMAP UID): the linking order and the last tie-breaker. */
  order: number;
}

export interface ThreadNode<T> {
  /** null for a dummy (a message only referenced, or the parent RFC 5256 gives threads merged by subject). */
  item: T | null;
  children: ThreadNode<T>[];
}

export interface ThreadRoot<T> extends ThreadNode<T> {
  /**
   * The Message-ID at the top of the reference tree this thread grew from (a referenced id counts even when that
   * message is absent), so the same conversation keeps the same anchor as its messages arrive in any order.
   * For threads merged by subject, the anchor of the earliest one. null when the top message has no usable id.
   */
  anchor: string | null;
}

export interface ThreadingOptions<T> {
  /** Whether two root threads with equal base subjects may merge (default: always, as RFC 5256 says). */
  canMerge?: (a: T[], b: T[]) => boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Message-IDs

/** Removes every space, tab, CR and LF (ids folded across lines). */
const stripLwsp = (s: string) => s.replace(/[ \t\r\n]/g, '');

const ATEXT = /[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]/;

/** Skips whitespace and (nested) comments from `i`. */
function skipCfws(s: string, i: number): number {
  for (;;) {
    while (i < s.length && ' \t\r\n'.includes(s[i]!)) i++;
    if (s[i] !== '(') return i;
    let depth = 0;
    for (; i < s.length; i++) {
      if (s[i] === '\\') i++;
      else if (s[i] === '(') depth++;
      else if (s[i] === ')' && --depth === 0) {
        i++;
        break;
      }
    }
    if (depth > 0) return s.length;
  }
}

function dotAtom(s: string, i: number): { text: string; end: number } | undefined {
  let text = '';
  for (;;) {
    const start = i;
    while (i < s.length && ATEXT.test(s[i]!)) i++;
    if (i === start) return undefined;
    text += s.slice(start, i);
    i = skipCfws(s, i);
    if (s[i] !== '.') return { text, end: i };
    text += '.';
    i = skipCfws(s, i + 1);
  }
}

/** The slow path: `<"quoted"@host>` and ids with comments or whitespace around their parts. */
function untokenizedId(s: string, from: number): { id: string; end: number } | undefined {
  let i = skipCfws(s, from);
  let local: string;
  if (s[i] === '"') {
    local = '';
    for (i++; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === '\\') i++;
      if (s[i] !== '\r' && s[i] !== '\n') local += s[i] ?? '';
    }
    if (s[i] !== '"') return undefined;
    i = skipCfws(s, i + 1);
  } else {
    const atom = dotAtom(s, i);
    if (!atom) return undefined;
    local = atom.text;
    i = atom.end;
  }
  if (s[i] !== '@') return undefined;
  const domain = dotAtom(s, skipCfws(s, i + 1));
  if (!domain || s[domain.end] !== '>') return undefined;
  return { id: `${local}@${domain.text}`, end: domain.end + 1 };
}

/**
 * Every valid message id of a Message-ID, In-Reply-To or References header, in order, without angle brackets.
 * Invalid ones (no `@`) are skipped. Ids compare case-sensitively.
 */
export function parseMessageIds(value: string | null | undefined): string[] {
  const ids: string[] = [];
  if (!value) return ids;
  let i = 0;
  for (;;) {
    const open = value.indexOf('<', i);
    if (open < 0) return ids;
    let p = open + 1;
    let foundAt = false;
    for (; ; p++) {
      if (p >= value.length) return ids;
      const c = value.charCodeAt(p);
      if (c >= 0x41) continue;
      if (c === 0) return ids;
      if (c === 0x40) foundAt = true;
      if (c === 0x3e || c === 0x22 || c === 0x28) break;
    }
    if (value.charCodeAt(p) === 0x3e) {
      i = p + 1;
      if (foundAt) ids.push(stripLwsp(value.slice(open + 1, p)));
      continue;
    }
    const slow = untokenizedId(value, open + 1);
    if (slow) {
      ids.push(slow.id);
      i = slow.end;
    } else {
      i = open + 1;
    }
  }
}

/** The first valid id of a header, or null. */
export function firstMessageId(value: string | null | undefined): string | null {
  return parseMessageIds(value)[0] ?? null;
}

// ---------------------------------------------------------------------------------------------------------------
// Base subject (RFC 5256 section 2.1)

/** Upper case per code point (a mapping that would change the length keeps the character), then NFD. */
function titlecaseDecomposed(s: string): string {
  let out = '';
  for (const c of s) {
    const upper = c.toUpperCase();
    out += [...upper].length === 1 ? upper : c;
  }
  return out.normalize('NFD');
}

/** After a `[` at `i`: the index past `]` and one optional space, or -1. */
function skipBlob(s: string, i: number): number {
  if (s[i] !== '[') return -1;
  let j = i + 1;
  while (j < s.length && s[j] !== '[' && s[j] !== ']') j++;
  if (s[j] !== ']') return -1;
  j++;
  if (s[j] === ' ') j++;
  return j;
}

export interface BaseSubject {
  /** The comparison key: decomposed upper case, no Re:/Fwd: leaders, [blobs], (fwd) trailers. */
  base: string;
  /** Whether a Re:, Fw:, Fwd:, (fwd) or [fwd: ...] was removed. */
  replyOrForward: boolean;
}

export function baseSubject(subject: string): BaseSubject {
  let s = titlecaseDecomposed(subject).replace(/[ \t\r\n]+/g, ' ');
  let start = 0;
  let replyOrForward = false;
  for (;;) {
    // (2) trailers: whitespace and "(fwd)".
    let end = s.length;
    while (end > start) {
      if (s[end - 1] === ' ') end--;
      else if (end >= 5 && s.slice(end - 5, end) === '(FWD)') {
        replyOrForward = true;
        end -= 5;
      } else break;
    }
    s = s.slice(0, end);
    // (3)-(5) leaders and blobs, repeated.
    for (let found = true; found; ) {
      found = false;
      if (s[start] === ' ') {
        start++;
        found = true;
      }
      let i = start;
      let leader = true;
      while (s[i] === '[') {
        const next = skipBlob(s, i);
        if (next < 0) {
          leader = false;
          break;
        }
        i = next;
      }
      if (leader) {
        const rest = s.slice(i);
        const word = rest.startsWith('RE') ? 2 : rest.startsWith('FWD') ? 3 : rest.startsWith('FW') ? 2 : 0;
        if (word > 0) {
          i += word;
          if (s[i] === ' ') i++;
          if (s[i] === '[') i = skipBlob(s, i);
          if (i >= 0 && s[i] === ':') {
            start = i + 1;
            replyOrForward = true;
            found = true;
          }
        }
      }
      if (s[start] === '[') {
        const next = skipBlob(s, start);
        if (next >= 0 && next < s.length) {
          start = next;
          found = true;
        }
      }
    }
    // (6) "[fwd: ... ]" wrapped subjects: unwrap and start over.
    if (s.startsWith('[FWD:', start) && s.length > 0 && s[s.length - 1] === ']') {
      replyOrForward = true;
      s = s.slice(0, -1);
      start += 5;
      continue;
    }
    return { base: s.slice(start), replyOrForward };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Threading

interface Container<T> {
  id: string | null;
  input: ThreadInput<T> | null;
  parent: Container<T> | null;
}

interface Shadow<T> {
  input: ThreadInput<T> | null;
  children: Shadow<T>[];
  /** Top-of-tree Message-ID (see ThreadRoot.anchor). */
  anchor: string | null;
}

interface Root<T> {
  node: Shadow<T>;
  dummy: boolean;
  ignore: boolean;
  /** Subject merging: the root this one merges into (RFC 5256 step 5.B). */
  parentRoot: Root<T> | null;
  replyOrForward: boolean;
  sortDate: number;
  sortOrder: number;
}

const sortDateOf = (m: ThreadInput<unknown>) => m.sentAt ?? m.receivedAt;

function compareKeys(a: { sortDate: number; sortOrder: number }, b: { sortDate: number; sortOrder: number }) {
  return a.sortDate - b.sortDate || a.sortOrder - b.sortOrder;
}

/** Children in thread order; a dummy child (only after subject merging) sorts by its first child. */
function sortedChildren<T>(node: Shadow<T>): Shadow<T>[] {
  const keyed = node.children.map((child) => ({ child, ...keyOf(child) }));
  keyed.sort(compareKeys);
  return keyed.map((k) => k.child);
}

function keyOf<T>(node: Shadow<T>): { sortDate: number; sortOrder: number } {
  if (node.input) return { sortDate: sortDateOf(node.input), sortOrder: node.input.order };
  const first = sortedChildren(node)[0];
  return first ? keyOf(first) : { sortDate: 0, sortOrder: 0 };
}

function hasAncestor<T>(node: Container<T>, ancestor: Container<T>): boolean {
  for (let n: Container<T> | null = node; n; n = n.parent) if (n === ancestor) return true;
  return false;
}

function link<T>(parent: Container<T>, child: Container<T>): void {
  if (hasAncestor(parent, child)) return;
  if (child.parent === null) child.parent = parent;
}

function members<T>(node: ThreadNode<T>, out: T[] = []): T[] {
  if (node.item !== null) out.push(node.item);
  for (const child of node.children) members(child, out);
  return out;
}

function shadowItems<T>(node: Shadow<T>, out: T[] = []): T[] {
  if (node.input) out.push(node.input.item);
  for (const child of node.children) shadowItems(child, out);
  return out;
}

/** Every message of a thread, depth first in thread order. */
export function threadMembers<T>(node: ThreadNode<T>): T[] {
  return members(node);
}

/**
 * What relates a message to others for threading: the Message-IDs it names (its own, In-Reply-To, References) and
 * its base subject. Threading is separable along these links: two messages can only end up in one thread when a
 * chain of shared links joins them, so after a change only the messages linked to it need threading again.
 */
export function threadLinks(
  message: Pick<ThreadInput<unknown>, 'messageId' | 'inReplyTo' | 'references' | 'subject'>,
): string[] {
  const links = new Set<string>();
  for (const id of parseMessageIds(message.messageId).slice(0, 1)) links.add(`id:${id}`);
  for (const id of parseMessageIds(message.inReplyTo)) links.add(`id:${id}`);
  for (const id of parseMessageIds(message.references)) links.add(`id:${id}`);
  if (message.subject !== null) {
    const { base } = baseSubject(message.subject);
    if (base !== '') links.add(`subject:${base}`);
  }
  return [...links];
}

/** Threads of a set of messages, as RFC 5256 REFERENCES (see the file header). */
export function threadMessages<T>(
  inputs: ThreadInput<T>[],
  options: ThreadingOptions<T> = {},
): ThreadRoot<T>[] {
  const messages = [...inputs].sort((a, b) => a.order - b.order);
  const byId = new Map<string, Container<T>>();
  const all: Container<T>[] = [];
  const container = (id: string): Container<T> => {
    let c = byId.get(id);
    if (!c) {
      c = { id, input: null, parent: null };
      byId.set(id, c);
      all.push(c);
    }
    return c;
  };

  // (1) Link.
  for (const input of messages) {
    const id = firstMessageId(input.messageId);
    let own: Container<T>;
    const existing = id === null ? undefined : byId.get(id);
    if (id !== null && (!existing || existing.input === null)) {
      own = container(id);
      own.input = input;
    } else {
      own = { id: null, input, parent: null };
      all.push(own);
    }
    let refs = parseMessageIds(input.references);
    if (refs.length === 0) refs = parseMessageIds(input.inReplyTo).slice(0, 1);
    const chain = refs.map(container);
    for (let i = 1; i < chain.length; i++) link(chain[i - 1]!, chain[i]!);
    const parent = chain.at(-1) ?? null;
    if (own.parent !== parent && own.parent !== null) own.parent = null;
    if (parent) link(parent, own);
  }

  // (2) Roots, and (3) dummies dropped: each message hangs under its nearest real ancestor, or the top dummy.
  const shadows = new Map<Container<T>, Shadow<T>>();
  const shadow = (c: Container<T>) => {
    let s = shadows.get(c);
    if (!s) {
      s = { input: c.input, children: [], anchor: null };
      shadows.set(c, s);
    }
    return s;
  };
  const roots: Root<T>[] = [];
  for (const c of all) {
    if (c.parent === null) {
      const node = shadow(c);
      node.anchor = c.id;
      roots.push({
        node,
        dummy: c.input === null,
        ignore: false,
        parentRoot: null,
        replyOrForward: false,
        sortDate: 0,
        sortOrder: 0,
      });
      continue;
    }
    if (c.input === null) continue;
    let p = c.parent;
    while (p.input === null && p.parent !== null) p = p.parent;
    shadow(p).children.push(shadow(c));
  }

  // (4) Sort the roots; a dummy root with one message gives way to it.
  const sortRoots = () => {
    for (const root of roots) {
      if (root.ignore) continue;
      if (root.dummy) {
        const children = sortedChildren(root.node);
        if (children.length === 0) {
          root.ignore = true;
          continue;
        }
        if (children.length === 1) {
          const only = children[0]!;
          only.anchor = root.node.anchor ?? only.anchor;
          root.node = only;
          root.dummy = only.input === null;
        }
        Object.assign(root, keyOf(root.node));
      } else {
        Object.assign(root, keyOf(root.node));
      }
    }
    roots.sort(compareKeys);
  };
  sortRoots();

  // (5) Gather roots by base subject (5.A, 5.B).
  const canMerge = options.canMerge;
  const table = new Map<string, Root<T>[]>();
  for (const root of roots) {
    if (root.ignore) continue;
    const first = root.dummy ? sortedChildren(root.node)[0]! : root.node;
    const subject = first.input?.subject;
    if (subject === null || subject === undefined) continue;
    const { base, replyOrForward } = baseSubject(subject);
    if (base === '') continue;
    const entries = table.get(base) ?? [];
    table.set(base, entries);
    const index = canMerge
      ? entries.findIndex((e) => canMerge(shadowItems(e.node), shadowItems(root.node)))
      : entries.length > 0
        ? 0
        : -1;
    if (index < 0) {
      entries.push(root);
    } else {
      const held = entries[index]!;
      if (!held.dummy && (root.dummy || (held.replyOrForward && !replyOrForward))) {
        held.parentRoot = root;
        entries[index] = root;
      } else {
        root.parentRoot = held;
      }
    }
    root.replyOrForward = replyOrForward;
  }

  // (5.C) Merge.
  let merged = false;
  const count = roots.length;
  for (let i = 0; i < count; i++) {
    const current = roots[i]!;
    if (current.parentRoot === null || current.ignore) continue;
    merged = true;
    let top = current;
    while (top.parentRoot !== null) top = top.parentRoot;
    if (current.dummy) {
      top.node.children.push(...current.node.children);
      current.node.children = [];
      current.ignore = true;
    } else if (top.dummy || (current.replyOrForward && !top.replyOrForward)) {
      top.node.children.push(current.node);
      current.ignore = true;
    } else {
      const dummy: Root<T> = {
        node: { input: null, children: [top.node, current.node], anchor: null },
        dummy: true,
        ignore: false,
        parentRoot: null,
        replyOrForward: false,
        sortDate: 0,
        sortOrder: 0,
      };
      top.parentRoot = dummy;
      top.ignore = true;
      current.ignore = true;
      roots.push(dummy);
    }
  }
  if (merged) sortRoots();

  const finish = (node: Shadow<T>): ThreadNode<T> => ({
    item: node.input ? node.input.item : null,
    children: sortedChildren(node).map(finish),
  });
  return roots
    .filter((r) => !r.ignore)
    .map((r) => ({
      ...finish(r.node),
      anchor: r.node.anchor ?? firstAnchor(r.node),
    }));
}

/** The anchor of a subject-merged dummy: that of its earliest child. */
function firstAnchor<T>(node: Shadow<T>): string | null {
  const first = sortedChildren(node)[0];
  if (!first) return null;
  return first.anchor ?? (first.input ? null : firstAnchor(first));
}
