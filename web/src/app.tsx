// Routes and the session gate. The threads and thread pages are in the first load; the other pages load on demand
// (analytics brings the chart library with it).
import { lazy, Suspense, useEffect } from 'react';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import { Layout } from './components/layout.tsx';
import { ErrorState, LoadingState } from './components/states.tsx';
import { NowProvider } from './components/use-now.tsx';
import { NotFoundPage } from './pages/not-found-page.tsx';
import { SignInPage } from './pages/sign-in-page.tsx';
import { ThreadPage } from './pages/thread-page.tsx';
import { ThreadsPage } from './pages/threads-page.tsx';
import { type AppStores, StoresProvider, useSession, useStores } from './stores/app-stores.tsx';

const AnalyticsPage = lazy(() => import('./pages/analytics-page.tsx'));
const FollowupsPage = lazy(() =>
  import('./pages/followups-page.tsx').then((m) => ({ default: m.FollowupsPage })),
);
const AccountsPage = lazy(() =>
  import('./pages/accounts-page.tsx').then((m) => ({ default: m.AccountsPage })),
);

function PageFallback() {
  return (
    <div className="page">
      <LoadingState label="Loading page…" />
    </div>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Navigate to="/threads" replace />} />
        <Route path="threads" element={<ThreadsPage />} />
        <Route path="threads/:threadId" element={<ThreadPage />} />
        <Route
          path="followups"
          element={
            <Suspense fallback={<PageFallback />}>
              <FollowupsPage />
            </Suspense>
          }
        />
        <Route
          path="analytics"
          element={
            <Suspense fallback={<PageFallback />}>
              <AnalyticsPage />
            </Suspense>
          }
        />
        <Route
          path="accounts"
          element={
            <Suspense fallback={<PageFallback />}>
              <AccountsPage />
            </Suspense>
          }
        />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

function SessionGate() {
  const { session } = useStores();
  const phase = useSession((s) => s.phase);
  const notice = useSession((s) => s.notice);
  useEffect(() => {
    void session.getState().boot();
  }, [session]);
  if (phase === 'booting') {
    return (
      <main className="boot" id="main">
        <LoadingState label="Starting…" />
      </main>
    );
  }
  if (phase === 'error') {
    return (
      <main className="boot" id="main">
        <ErrorState
          title="The server cannot be reached"
          message={notice ?? ''}
          onRetry={() => void session.getState().boot()}
        />
      </main>
    );
  }
  if (phase === 'signed-out') return <SignInPage />;
  return <AppRoutes />;
}

export function App({ stores }: { stores: AppStores }) {
  return (
    <StoresProvider stores={stores}>
      <NowProvider>
        <BrowserRouter>
          <SessionGate />
        </BrowserRouter>
      </NowProvider>
    </StoresProvider>
  );
}
