/**
 * Delay before reconnect attempt `attempt` (0-based): exponential, capped, with "equal jitter" (half fixed, half
 * random) so that many tabs dropped by one server restart do not reconnect in lockstep.
 */
export function backoffDelay(
  attempt: number,
  random: () => number = Math.random,
  baseMs = 500,
  maxMs = 30_000,
) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
