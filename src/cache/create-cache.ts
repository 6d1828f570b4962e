/**
 * Builds the cache the configuration asks for: the memory tier alone, or memory (L1) in front of Redis (L2) with
 * the invalidation subscription. The service starts even when Redis does not answer; it uses Redis as soon as it
 * does.
 */
import type { Logger } from '../ports/logger.ts';
import { MemoryCache } from './memory-cache.ts';
import { RedisCache } from './redis-cache.ts';
import { TieredCache } from './tiered-cache.ts';

export interface CacheOptions {
  ttlSeconds: number;
  maxSize: number;
  cleanupIntervalMs: number;
  /** Seconds the memory tier keeps entries past their freshness, for reads while the database is unavailable. */
  staleRetentionSeconds?: number;
  redis?: {
    url: string;
    commandTimeoutMs?: number;
    degradedTtlSeconds?: number;
    l1Enabled?: boolean;
  };
  logger?: Logger;
}

export async function createCache(options: CacheOptions): Promise<MemoryCache | TieredCache> {
  const l1 = new MemoryCache({
    ttl: options.ttlSeconds,
    maxSize: options.maxSize,
    cleanupInterval: options.cleanupIntervalMs,
  });
  if (!options.redis) return l1;
  const logger = options.logger;
  let tiered: TieredCache | undefined;
  let lastRedisError = 0;
  const l2 = new RedisCache({
    url: options.redis.url,
    commandTimeoutMs: options.redis.commandTimeoutMs ?? 100,
    defaultTtlSeconds: options.ttlSeconds,
    onBreakerChange: (state, previous) => {
      logger?.warn({ breaker: 'redis', state, previous }, 'Redis circuit breaker changed state');
      tiered?.onRedisStateChange();
    },
    beforeRecover: async () => tiered?.flushPending(),
    onError: (error) => {
      // One line per second at most: a Redis that is down reports an error on every reconnect attempt.
      if (Date.now() - lastRedisError > 1000) {
        lastRedisError = Date.now();
        logger?.warn({ err: error }, 'Redis connection error');
      }
    },
  });
  const subscriber = l2.client.duplicate({ enableOfflineQueue: true, commandTimeout: undefined as never });
  tiered = new TieredCache({
    l1,
    l2,
    subscriber,
    ttlSeconds: options.ttlSeconds,
    ...(options.redis.degradedTtlSeconds === undefined
      ? {}
      : { degradedTtlSeconds: options.redis.degradedTtlSeconds }),
    ...(options.redis.l1Enabled === undefined ? {} : { l1Enabled: options.redis.l1Enabled }),
    ...(logger ? { logger } : {}),
  });
  try {
    await l2.ready();
    await l2.restartedSinceLastCheck();
  } catch (error) {
    logger?.warn({ err: error }, 'Redis is not reachable at start-up; serving from memory and the database');
    l2.breaker.trip();
  }
  return tiered;
}
