/** Every thread of a user, page after page, read through the ThreadTrackingService as the API would. */
import type { Thread } from '../../src/domain/thread.ts';
import type { ThreadTrackingService } from '../../src/service/thread-tracking-service.ts';

export async function allThreads(service: ThreadTrackingService, userId = 'me'): Promise<Thread[]> {
  const out: Thread[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await service.getThreadsByUser(userId, { limit: 100, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
}
