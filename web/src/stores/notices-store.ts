// Messages the user must see: refused actions (with the server's reason), confirmations with an undo.
import { createStore } from 'zustand/vanilla';

export type NoticeKind = 'error' | 'success' | 'info';

export interface Notice {
  id: number;
  kind: NoticeKind;
  message: string;
  action?: { label: string; run: () => void };
}

export interface NoticesState {
  notices: Notice[];
  push(notice: Omit<Notice, 'id'>, timeoutMs?: number): number;
  dismiss(id: number): void;
}

export type Notify = NoticesState['push'];

const DEFAULT_TIMEOUT: Record<NoticeKind, number> = { error: 10_000, success: 5_000, info: 5_000 };
const MAX_VISIBLE = 4;

export function createNoticesStore() {
  let nextId = 1;
  return createStore<NoticesState>()((set, get) => ({
    notices: [],
    push(notice, timeoutMs) {
      const id = nextId++;
      set((s) => ({ notices: [...s.notices, { ...notice, id }].slice(-MAX_VISIBLE) }));
      const ttl = timeoutMs ?? DEFAULT_TIMEOUT[notice.kind];
      if (ttl > 0) setTimeout(() => get().dismiss(id), ttl);
      return id;
    },
    dismiss(id) {
      if (!get().notices.some((n) => n.id === id)) return;
      set((s) => ({ notices: s.notices.filter((n) => n.id !== id) }));
    },
  }));
}

export type NoticesStore = ReturnType<typeof createNoticesStore>;
