import { useId, useState } from 'react';
import { useDocumentTitle } from '../components/use-document-title.ts';
import { useSession, useStores } from '../stores/app-stores.tsx';

export function SignInPage() {
  useDocumentTitle('Sign in');
  const { session } = useStores();
  const config = useSession((s) => s.config);
  const notice = useSession((s) => s.notice);
  const error = useSession((s) => s.signInError);
  const signingIn = useSession((s) => s.signingIn);
  const [token, setToken] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const ids = { token: useId(), email: useId(), password: useId(), error: useId() };
  const supabase = Boolean(config?.supabaseUrl && config.supabaseAnonKey);

  return (
    <main className="sign-in" id="main">
      <div className="sign-in__card">
        <div className="brand brand--large">
          <span className="brand__mark" aria-hidden="true" />
          <span className="brand__name">Thread Tracker</span>
        </div>
        <h1 className="sign-in__title">Sign in</h1>
        {notice ? (
          <p className="banner" role="status">
            {notice}
          </p>
        ) : null}
        {error ? (
          <p id={ids.error} className="banner banner--error" role="alert">
            {error}
          </p>
        ) : null}
        {supabase ? (
          <form
            className="sign-in__form"
            onSubmit={(e) => {
              e.preventDefault();
              void session.getState().signInWithPassword(email.trim(), password);
            }}
          >
            <div className="field">
              <label htmlFor={ids.email} className="field__label">
                Email
              </label>
              <input
                id={ids.email}
                className="input"
                type="email"
                autoComplete="email"
                required
                value={email}
                onChange={(e) => setEmail(e.target.value)}
              />
            </div>
            <div className="field">
              <label htmlFor={ids.password} className="field__label">
                Password
              </label>
              <input
                id={ids.password}
                className="input"
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </div>
            <button type="submit" className="button button--primary button--block" disabled={signingIn}>
              {signingIn ? 'Signing in…' : 'Sign in'}
            </button>
          </form>
        ) : null}
        {supabase ? <p className="sign-in__divider">or use an access token</p> : null}
        <form
          className="sign-in__form"
          onSubmit={(e) => {
            e.preventDefault();
            void session.getState().signInWithToken(token);
          }}
        >
          <div className="field">
            <label htmlFor={ids.token} className="field__label">
              Access token
            </label>
            <textarea
              id={ids.token}
              className="input textarea"
              rows={4}
              spellCheck={false}
              autoComplete="off"
              placeholder="eyJhbGciOi…"
              value={token}
              aria-describedby={error ? ids.error : undefined}
              onChange={(e) => setToken(e.target.value)}
            />
            <p className="field__hint">
              A JWT for this server, e.g. from <code>thread-tracker token --user you@example.com</code>. It is
              kept in this browser only.
            </p>
          </div>
          <button
            type="submit"
            className={`button button--block ${supabase ? '' : 'button--primary'}`}
            disabled={signingIn}
          >
            {signingIn ? 'Checking…' : 'Sign in with token'}
          </button>
        </form>
      </div>
    </main>
  );
}
