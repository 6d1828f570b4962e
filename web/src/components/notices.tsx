// The notice region: refused actions stay readable (role=alert), confirmations offer an undo.
import { useNotices, useStores } from '../stores/app-stores.tsx';
import { XIcon } from './icons.tsx';

export function Notices() {
  const notices = useNotices((s) => s.notices);
  const { notices: store } = useStores();
  return (
    <section className="notices" aria-label="Notifications">
      {notices.map((notice) => (
        <div
          key={notice.id}
          className={`notice notice--${notice.kind}`}
          role={notice.kind === 'error' ? 'alert' : 'status'}
        >
          <p className="notice__message">{notice.message}</p>
          {notice.action ? (
            <button
              type="button"
              className="notice__action"
              onClick={() => {
                notice.action?.run();
                store.getState().dismiss(notice.id);
              }}
            >
              {notice.action.label}
            </button>
          ) : null}
          <button
            type="button"
            className="notice__close"
            aria-label="Dismiss"
            onClick={() => store.getState().dismiss(notice.id)}
          >
            <XIcon size={14} />
          </button>
        </div>
      ))}
    </section>
  );
}
