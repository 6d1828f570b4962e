// Keeps the threads store in step with the server while someone is signed in.
import { useEffect } from 'react';
import { connectRealtime, realtimeUrl } from '../lib/realtime.ts';
import { useSession, useStores } from '../stores/app-stores.tsx';

export function useLiveUpdates(): void {
  const stores = useStores();
  const ready = useSession((s) => s.phase === 'ready');
  useEffect(() => {
    if (!ready || typeof WebSocket === 'undefined') return;
    const threads = () => stores.threads.getState();
    const connection = connectRealtime({
      url: realtimeUrl(window.location),
      getToken: () => stores.session.getState().token,
      initialLastEventId: threads().lastEventId,
      onEvent: (event) => threads().applyEvent(event),
      onHello: (lastEventId) => threads().setLastEventId(lastEventId),
      onStatus: (status) => threads().setLiveStatus(status),
    });
    const reconnect = () => connection.reconnectNow();
    window.addEventListener('online', reconnect);
    return () => {
      window.removeEventListener('online', reconnect);
      connection.close();
      threads().setLiveStatus('idle');
    };
  }, [ready, stores]);
}
