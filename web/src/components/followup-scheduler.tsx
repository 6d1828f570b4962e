// Scheduling a follow-up: a date and a time on the user's own clock (zone shown), sent to the API as UTC.
import { useEffect, useId, useState } from 'react';
import { ApiError, errorMessage } from '../api/http.ts';
import type { FollowupPreview, Thread } from '../api/types.ts';
import { formatDateTime, formatRelative } from '../lib/format.ts';
import { describeTimeZone, isoToZonedParts, userTimeZone, zonedDateTimeToIso } from '../lib/time-zone.ts';
import { useStores } from '../stores/app-stores.tsx';
import { useNow } from './use-now.tsx';

const DEFAULT_DELAY_DAYS = 3;
const DEFAULT_TIME = '09:00';

function defaultSlot(thread: Thread, timeZone: string, now: number) {
  if (thread.followupScheduledAt) return isoToZonedParts(thread.followupScheduledAt, timeZone);
  return { date: isoToZonedParts(now + DEFAULT_DELAY_DAYS * 86_400_000, timeZone).date, time: DEFAULT_TIME };
}

type PreviewState =
  | { status: 'idle' }
  | { status: 'loading' }
  | { status: 'ready'; preview: FollowupPreview }
  | { status: 'unavailable' }
  | { status: 'error'; message: string };

export function FollowupScheduler({
  thread,
  timeZone = userTimeZone(),
}: {
  thread: Thread;
  timeZone?: string;
}) {
  const { threads, api } = useStores();
  const now = useNow();
  const [slot, setSlot] = useState(() => defaultSlot(thread, timeZone, Date.now()));
  const [formError, setFormError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [preview, setPreview] = useState<PreviewState>({ status: 'idle' });
  const dateId = useId();
  const timeId = useId();
  const errorId = useId();
  const scheduledAt = thread.followupScheduled ? thread.followupScheduledAt : null;
  const active = thread.status === 'active';

  useEffect(() => {
    // Another tab (or a live event) rescheduled it: show the new time.
    if (scheduledAt) setSlot(isoToZonedParts(scheduledAt, timeZone));
  }, [scheduledAt, timeZone]);

  async function schedule(e: React.FormEvent) {
    e.preventDefault();
    const iso = zonedDateTimeToIso(slot.date, slot.time, timeZone);
    if (!iso) {
      setFormError('Choose a date and a time.');
      return;
    }
    if (Date.parse(iso) <= Date.now()) {
      setFormError('Choose a time in the future.');
      return;
    }
    setFormError(null);
    setSaving(true);
    await threads.getState().scheduleFollowup(thread.threadId, iso);
    setSaving(false);
  }

  async function loadPreview() {
    setPreview({ status: 'loading' });
    try {
      setPreview({ status: 'ready', preview: await api.threads.previewFollowup(thread.threadId) });
    } catch (error) {
      if (error instanceof ApiError && error.routeMissing) setPreview({ status: 'unavailable' });
      else setPreview({ status: 'error', message: errorMessage(error) });
    }
  }

  return (
    <section className="card" aria-labelledby="followup-heading">
      <div className="card__header">
        <h2 id="followup-heading" className="card__title">
          Follow-up
        </h2>
        {thread.followupCount > 0 ? <span className="muted">{thread.followupCount} sent so far</span> : null}
      </div>
      {scheduledAt ? (
        <p className="followup-status" data-testid="followup-status">
          Scheduled for <strong>{formatDateTime(scheduledAt, timeZone)}</strong>{' '}
          <span className="muted">({formatRelative(scheduledAt, now)})</span>
        </p>
      ) : (
        <p className="followup-status muted" data-testid="followup-status">
          No follow-up scheduled.{thread.responseTimeHours !== null ? ' They already replied.' : ''}
        </p>
      )}
      {active ? (
        <form className="followup-form" onSubmit={schedule} noValidate>
          <div className="field">
            <label htmlFor={dateId} className="field__label">
              Date
            </label>
            <input
              id={dateId}
              type="date"
              className="input"
              required
              value={slot.date}
              min={isoToZonedParts(now, timeZone).date}
              aria-describedby={formError ? errorId : undefined}
              onChange={(e) => setSlot((s) => ({ ...s, date: e.target.value }))}
            />
          </div>
          <div className="field">
            <label htmlFor={timeId} className="field__label">
              Time
            </label>
            <input
              id={timeId}
              type="time"
              className="input"
              required
              step={300}
              value={slot.time}
              aria-describedby={formError ? errorId : undefined}
              onChange={(e) => setSlot((s) => ({ ...s, time: e.target.value }))}
            />
          </div>
          <button type="submit" className="button button--primary" disabled={saving}>
            {scheduledAt ? 'Reschedule' : 'Schedule follow-up'}
          </button>
          <p className="field__hint followup-form__zone">Times are in {describeTimeZone(timeZone, now)}.</p>
          {formError ? (
            <p id={errorId} className="field__error" role="alert">
              {formError}
            </p>
          ) : null}
        </form>
      ) : (
        <p className="field__hint">
          Only active threads get follow-ups. Move it back to active to schedule one.
        </p>
      )}
      <div className="card__actions">
        {scheduledAt ? (
          <button
            type="button"
            className="button button--danger-ghost"
            onClick={() => void threads.getState().cancelFollowup(thread.threadId)}
          >
            Cancel follow-up
          </button>
        ) : null}
        <button
          type="button"
          className="button"
          onClick={() => void loadPreview()}
          disabled={preview.status === 'loading'}
        >
          {preview.status === 'ready' ? 'Draft again' : 'Preview draft'}
        </button>
      </div>
      <div aria-live="polite">
        {preview.status === 'loading' ? <p className="muted">Drafting…</p> : null}
        {preview.status === 'unavailable' ? (
          <p className="notice-inline">Draft previews aren’t available on this server yet.</p>
        ) : null}
        {preview.status === 'error' ? (
          <p className="field__error" role="alert">
            Could not draft the follow-up: {preview.message}
          </p>
        ) : null}
        {preview.status === 'ready' ? (
          <figure className="draft">
            <figcaption className="draft__meta">
              Drafted by {preview.preview.drafter === 'openai' ? 'the language model' : 'the template'}
            </figcaption>
            <p className="draft__subject">{preview.preview.subject}</p>
            <pre className="draft__body">{preview.preview.body}</pre>
          </figure>
        ) : null}
      </div>
    </section>
  );
}
