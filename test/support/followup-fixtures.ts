/** Shared fixtures of the follow-up tests. */
import type { DraftContext } from '../../src/domain/followup-draft.ts';

/** The context of a first follow-up to Jane at Acme, three days after an English application. */
export const draftContext = (overrides: Partial<DraftContext> = {}): DraftContext => ({
  subject: 'Application for the backend engineer position',
  participants: ['jane@acme.example'],
  lead: { name: 'Jane Doe', company: 'Acme', email: 'jane@acme.example' },
  step: 1,
  lastMessageAt: '2026-06-01T10:00:00.000Z',
  daysSince: 3,
  senderName: 'Sam',
  language: 'en',
  ...overrides,
});
