// One clock for every relative time on screen ("3 h ago"), ticking once a minute, so rows do not each run a timer.
import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';

const NowContext = createContext<number | null>(null);

export function NowProvider({
  children,
  intervalMs = 30_000,
  now,
}: {
  children: ReactNode;
  intervalMs?: number;
  now?: number;
}) {
  const [current, setCurrent] = useState(() => now ?? Date.now());
  useEffect(() => {
    if (now !== undefined) return;
    const timer = setInterval(() => setCurrent(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, now]);
  return <NowContext.Provider value={now ?? current}>{children}</NowContext.Provider>;
}

export function useNow(): number {
  return useContext(NowContext) ?? Date.now();
}
