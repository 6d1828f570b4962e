/**
 * What the follow-up engine needs from the mailbox that holds a thread: the thread as it is now, and sending in it,
 * drafting in it, finding a message by its Message-ID. Built over the MailProvider port (mail-provider.ts).
 */
import type { MailboxMessage } from '../domain/followup-policy.ts';
import type { MessageLocation, OutgoingMessage, SentMessage } from './mail-provider.ts';

/** A message of the thread as the mailbox has it now, classified (sent, reply, auto_reply, bounce, inbound). */
export interface ThreadMessage extends MailboxMessage {
  from: string | null;
  to: string[];
  cc: string[];
  subject: string | null;
  /** Message-IDs of its References header, oldest first. */
  references: string[];
}

export interface ThreadMailbox {
  accountId: string;
  provider: 'gmail' | 'imap';
  /** The mailbox owner's address (the From of follow-ups). */
  address: string;
  /** Gmail's thread id; null for IMAP. */
  providerThreadId: string | null;
  /** The thread's messages now, oldest first. */
  messages(): Promise<ThreadMessage[]>;
  send(message: OutgoingMessage): Promise<SentMessage>;
  createDraft(message: OutgoingMessage): Promise<{ draftId: string }>;
  findByMessageId(messageId: string): Promise<MessageLocation | undefined>;
}

export interface FollowupMailboxes {
  /** The mailbox holding the user's thread, or undefined when none of the user's accounts has it. */
  open(userId: string, threadId: string): Promise<ThreadMailbox | undefined>;
  /** Users with at least one connected mailbox (their follow-up policy applies from their first sync). */
  users(): Promise<string[]>;
  close(): Promise<void>;
}
