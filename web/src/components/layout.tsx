import { NavLink, Outlet } from 'react-router';
import { useSession, useStores, useThreads } from '../stores/app-stores.tsx';
import { ChartIcon, ClockIcon, InboxIcon, MailIcon } from './icons.tsx';
import { useLiveUpdates } from './live-updates.ts';
import { Notices } from './notices.tsx';

const NAV = [
  { to: '/threads', label: 'Threads', icon: InboxIcon },
  { to: '/followups', label: 'Follow-ups', icon: ClockIcon },
  { to: '/analytics', label: 'Analytics', icon: ChartIcon },
  { to: '/accounts', label: 'Accounts', icon: MailIcon },
];

const LIVE_LABELS = {
  idle: 'Live updates off',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Live updates unavailable',
} as const;

function LiveIndicator() {
  const status = useThreads((s) => s.liveStatus);
  return (
    <p className={`live live--${status}`} title="Changes made elsewhere appear here as they happen">
      <span className="live__dot" aria-hidden="true" />
      <span>{LIVE_LABELS[status]}</span>
    </p>
  );
}

export function Layout() {
  useLiveUpdates();
  const { session } = useStores();
  const me = useSession((s) => s.me);
  const jwt = useSession((s) => s.config?.authMode === 'jwt');
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="sidebar">
        <div className="brand">
          <span className="brand__mark" aria-hidden="true" />
          <span className="brand__name">Thread Tracker</span>
        </div>
        <nav className="nav" aria-label="Main">
          {NAV.map(({ to, label, icon: Icon }) => (
            <NavLink key={to} to={to} className="nav__link">
              <Icon size={17} />
              <span>{label}</span>
            </NavLink>
          ))}
        </nav>
        <div className="sidebar__footer">
          <LiveIndicator />
          {jwt ? (
            <div className="account-chip">
              <span className="account-chip__user" title={me?.userId}>
                {me?.userId}
              </span>
              <button type="button" className="link-button" onClick={() => session.getState().signOut()}>
                Sign out
              </button>
            </div>
          ) : null}
        </div>
      </header>
      <main id="main" className="main" tabIndex={-1}>
        <Outlet />
      </main>
      <Notices />
    </div>
  );
}
