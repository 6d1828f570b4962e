// Loading, empty, error and "not available yet" states, one look everywhere.
import type { ReactNode } from 'react';

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return <span className="spinner" role="progressbar" aria-label={label} />;
}

export function LoadingState({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state" role="status" aria-live="polite">
      <Spinner label={label} />
      <p className="state__body">{label}</p>
    </div>
  );
}

export function EmptyState({
  title,
  children,
  action,
}: {
  title: string;
  children?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className="state">
      <p className="state__title">{title}</p>
      {children ? <div className="state__body">{children}</div> : null}
      {action ? <div className="state__action">{action}</div> : null}
    </div>
  );
}

export function ErrorState({
  title = 'Something went wrong',
  message,
  onRetry,
}: {
  title?: string;
  message: string;
  onRetry?: () => void;
}) {
  return (
    <div className="state state--error" role="alert">
      <p className="state__title">{title}</p>
      <p className="state__body">{message}</p>
      {onRetry ? (
        <div className="state__action">
          <button type="button" className="button" onClick={onRetry}>
            Try again
          </button>
        </div>
      ) : null}
    </div>
  );
}

/** For capabilities the server does not offer yet (its route answers 404): calm, not an error. */
export function UnavailableState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state--unavailable" role="status">
      <p className="state__title">{title}</p>
      <div className="state__body">
        {children ?? 'This server does not offer it yet. It appears here as soon as the server is updated.'}
      </div>
    </div>
  );
}

export function SkeletonRows({ count = 8 }: { count?: number }) {
  return (
    <div className="skeleton-rows" aria-hidden="true">
      {Array.from({ length: count }, (_, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: placeholders have no identity
        <div key={i} className="skeleton-row">
          <span className="skeleton" style={{ width: `${40 + ((i * 37) % 35)}%` }} />
          <span className="skeleton" style={{ width: `${15 + ((i * 23) % 15)}%` }} />
        </div>
      ))}
    </div>
  );
}
