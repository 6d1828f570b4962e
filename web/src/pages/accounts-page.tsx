import { useEffect, useId, useState } from 'react';
import type { FieldError } from '../api/http.ts';
import type { Account, ImapAccountInput } from '../api/types.ts';
import { EmptyState, ErrorState, LoadingState, UnavailableState } from '../components/states.tsx';
import { useDocumentTitle } from '../components/use-document-title.ts';
import { useNow } from '../components/use-now.tsx';
import { formatRelative } from '../lib/format.ts';
import { useAccounts, useStores } from '../stores/app-stores.tsx';

const POLL_MS = 3_000;

const STATUS_TEXT: Record<Account['status'], string> = {
  active: 'Connected',
  syncing: 'Syncing',
  needs_reconnect: 'Needs reconnecting',
  error: 'Error',
};

function AccountCard({
  account,
  onReconnect,
}: {
  account: Account;
  onReconnect: (account: Account) => void;
}) {
  const { accounts } = useStores();
  const now = useNow();
  const [confirming, setConfirming] = useState(false);
  const progress = account.progress;
  const percent = progress?.total ? Math.min(100, Math.round((progress.done / progress.total) * 100)) : null;
  const throttled = account.throttledUntil && Date.parse(account.throttledUntil) > now;
  return (
    <li className="account">
      <div className="account__main">
        <div className="account__title">
          <span className={`provider provider--${account.provider}`}>
            {account.provider === 'gmail' ? 'Gmail' : 'IMAP'}
          </span>
          <span className="account__email">{account.email}</span>
        </div>
        <p className="account__meta">
          <span className={`badge badge--account-${account.status}`}>{STATUS_TEXT[account.status]}</span>
          <span className="muted">
            {account.lastSyncAt ? `Last synced ${formatRelative(account.lastSyncAt, now)}` : 'Never synced'}
          </span>
          {throttled ? (
            <span className="muted">
              Paused by the provider until {new Date(account.throttledUntil!).toLocaleTimeString()}
            </span>
          ) : null}
        </p>
        {account.status === 'syncing' || progress ? (
          <div className="sync-progress">
            <div
              className="meter"
              role="progressbar"
              aria-label={`Sync progress of ${account.email}`}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={percent ?? undefined}
              aria-valuetext={
                progress
                  ? `${progress.phase}: ${progress.done}${progress.total ? ` of ${progress.total}` : ''}`
                  : 'Starting'
              }
            >
              <div
                className={`meter__bar${percent === null ? ' meter__bar--indeterminate' : ''}`}
                style={percent === null ? undefined : { width: `${percent}%` }}
              />
            </div>
            <span className="muted">
              {progress
                ? `${progress.phase} · ${progress.done.toLocaleString()}${progress.total ? ` / ${progress.total.toLocaleString()}` : ''}`
                : 'Starting…'}
            </span>
          </div>
        ) : null}
        {account.lastError ? (
          <p className="field__error" role="status">
            {account.lastError}
          </p>
        ) : null}
      </div>
      <div className="account__actions">
        {account.status === 'needs_reconnect' ? (
          <button
            type="button"
            className="button button--small button--primary"
            onClick={() => onReconnect(account)}
          >
            Reconnect
          </button>
        ) : null}
        <button
          type="button"
          className="button button--small"
          disabled={account.status === 'syncing'}
          onClick={() => void accounts.getState().sync(account.id)}
        >
          Sync now
        </button>
        {confirming ? (
          <>
            <button
              type="button"
              className="button button--small button--danger"
              onClick={() => void accounts.getState().remove(account.id)}
            >
              Remove
            </button>
            <button
              type="button"
              className="button button--small button--ghost"
              onClick={() => setConfirming(false)}
            >
              Keep
            </button>
          </>
        ) : (
          <button
            type="button"
            className="button button--small button--ghost"
            onClick={() => setConfirming(true)}
          >
            Remove…
          </button>
        )}
      </div>
    </li>
  );
}

const EMPTY_IMAP: Record<keyof ImapAccountInput, string> = {
  email: '',
  imapHost: '',
  imapPort: '993',
  imapSecure: 'true',
  smtpHost: '',
  smtpPort: '465',
  smtpSecure: 'true',
  username: '',
  password: '',
};

function ImapForm({ disabled, email, onDone }: { disabled: boolean; email?: string; onDone: () => void }) {
  const { accounts } = useStores();
  const [values, setValues] = useState(() => ({ ...EMPTY_IMAP, email: email ?? '' }));
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldError[]>([]);
  const [saving, setSaving] = useState(false);
  const id = useId();

  const fieldError = (name: string) =>
    fieldErrors.find((f) => f.path.split('.').at(-1) === name)?.message ?? null;

  const input = (name: keyof ImapAccountInput, label: string, type = 'text', extra: object = {}) => {
    const message = fieldError(name);
    return (
      <div className="field">
        <label htmlFor={`${id}-${name}`} className="field__label">
          {label}
        </label>
        <input
          id={`${id}-${name}`}
          className="input"
          type={type}
          value={values[name]}
          required
          aria-invalid={message ? true : undefined}
          aria-describedby={message ? `${id}-${name}-error` : undefined}
          onChange={(e) => setValues((v) => ({ ...v, [name]: e.target.value }))}
          {...extra}
        />
        {message ? (
          <p id={`${id}-${name}-error`} className="field__error">
            {message}
          </p>
        ) : null}
      </div>
    );
  };

  const secure = (name: 'imapSecure' | 'smtpSecure', label: string) => (
    <div className="field field--checkbox">
      <input
        id={`${id}-${name}`}
        type="checkbox"
        className="checkbox"
        checked={values[name] === 'true'}
        onChange={(e) => setValues((v) => ({ ...v, [name]: String(e.target.checked) }))}
      />
      <label htmlFor={`${id}-${name}`}>{label}</label>
    </div>
  );

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setSaving(true);
    setError(null);
    setFieldErrors([]);
    const result = await accounts.getState().addImap({
      email: values.email.trim(),
      imapHost: values.imapHost.trim(),
      imapPort: Number(values.imapPort),
      imapSecure: values.imapSecure === 'true',
      smtpHost: values.smtpHost.trim(),
      smtpPort: Number(values.smtpPort),
      smtpSecure: values.smtpSecure === 'true',
      username: values.username.trim() || values.email.trim(),
      password: values.password,
    });
    setSaving(false);
    if (result.ok) {
      setValues(EMPTY_IMAP);
      onDone();
    } else {
      setError(result.message);
      setFieldErrors(result.fields);
    }
  }

  return (
    <form className="imap-form" onSubmit={submit}>
      <fieldset disabled={disabled || saving}>
        <legend className="visually-hidden">IMAP account</legend>
        <div className="form-grid">
          {input('email', 'Email address', 'email', { autoComplete: 'email' })}
          {input('username', 'Username (if not the address)', 'text', {
            required: false,
            autoComplete: 'username',
          })}
          {input('password', 'Password or app password', 'password', { autoComplete: 'current-password' })}
        </div>
        <div className="form-grid form-grid--server">
          {input('imapHost', 'IMAP server', 'text', { placeholder: 'imap.example.com' })}
          {input('imapPort', 'Port', 'number', { min: 1, max: 65535 })}
          {secure('imapSecure', 'TLS')}
          {input('smtpHost', 'SMTP server', 'text', { placeholder: 'smtp.example.com' })}
          {input('smtpPort', 'Port', 'number', { min: 1, max: 65535 })}
          {secure('smtpSecure', 'TLS')}
        </div>
        {error ? (
          <p className="field__error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="form-actions">
          <button type="submit" className="button button--primary">
            {saving ? 'Checking the connection…' : 'Add account'}
          </button>
          <button type="button" className="button button--ghost" onClick={onDone}>
            Cancel
          </button>
        </div>
      </fieldset>
    </form>
  );
}

export function AccountsPage() {
  useDocumentTitle('Accounts');
  const { accounts } = useStores();
  const status = useAccounts((s) => s.status);
  const items = useAccounts((s) => s.items);
  const error = useAccounts((s) => s.error);
  // false = closed; otherwise the address to prefill (an IMAP account whose password must be entered again).
  const [imapForm, setImapForm] = useState<false | { email: string }>(false);
  const [connecting, setConnecting] = useState(false);
  const syncing = items.some((a) => a.status === 'syncing');

  useEffect(() => {
    void accounts.getState().load();
  }, [accounts]);

  useEffect(() => {
    if (!syncing) return;
    const timer = setInterval(() => void accounts.getState().load({ quiet: true }), POLL_MS);
    return () => clearInterval(timer);
  }, [syncing, accounts]);

  function reconnect(account: Account) {
    if (account.provider === 'gmail') void connectGmail();
    else setImapForm({ email: account.email });
  }

  async function connectGmail() {
    setConnecting(true);
    const url = await accounts.getState().connectGmail();
    if (url) window.location.assign(url);
    else setConnecting(false);
  }

  const unavailable = status === 'unavailable';
  let body: React.ReactNode;
  if (status === 'idle' || (status === 'loading' && items.length === 0))
    body = <LoadingState label="Loading accounts…" />;
  else if (unavailable)
    body = (
      <UnavailableState title="Mail accounts can’t be connected on this server yet">
        Connecting Gmail or an IMAP mailbox arrives with mail sync. Until then, threads can be added through
        the API.
      </UnavailableState>
    );
  else if (status === 'error')
    body = (
      <ErrorState
        title="Accounts could not be loaded"
        message={error ?? ''}
        onRetry={() => void accounts.getState().load()}
      />
    );
  else if (items.length === 0)
    body = (
      <EmptyState title="No mail account connected">
        Connect Gmail or an IMAP mailbox: the threads you send are found and tracked, and replies are noticed.
      </EmptyState>
    );
  else
    body = (
      <ul className="account-list">
        {items.map((account) => (
          <AccountCard key={account.id} account={account} onReconnect={reconnect} />
        ))}
      </ul>
    );

  return (
    <div className="page">
      <div className="page__header">
        <div className="page__title-row">
          <h1 className="page__title">Accounts</h1>
        </div>
        <p className="page__lead">
          The mailboxes your sent threads are read from, and how their sync is going.
        </p>
        <div className="toolbar">
          <button
            type="button"
            className="button button--primary"
            disabled={unavailable || connecting}
            onClick={() => void connectGmail()}
          >
            {connecting ? 'Opening Google…' : 'Connect Gmail'}
          </button>
          <button
            type="button"
            className="button"
            disabled={unavailable}
            aria-expanded={imapForm !== false}
            onClick={() => setImapForm((v) => (v === false ? { email: '' } : false))}
          >
            Add IMAP account
          </button>
        </div>
      </div>
      {imapForm !== false && !unavailable ? (
        <section className="card" aria-label="Add an IMAP account">
          <ImapForm
            key={imapForm.email}
            disabled={unavailable}
            email={imapForm.email}
            onDone={() => setImapForm(false)}
          />
        </section>
      ) : null}
      {body}
    </div>
  );
}
