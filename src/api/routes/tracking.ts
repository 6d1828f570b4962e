/**
 * The open-tracking pixel: GET /api/v1/t/o/{token}.gif, without sign-in (mail clients load it). Always a 1×1
 * transparent GIF that no cache keeps, whatever the token, so the answer tells nothing about which tokens exist.
 */
import type { FastifyInstance } from 'fastify';
import type { FollowupService } from '../../service/followup-service.ts';

/** A 1×1 transparent GIF. */
export const TRANSPARENT_GIF = Buffer.from(
  'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7',
  'base64',
);

export function trackingRoutes(followups: FollowupService) {
  return async (app: FastifyInstance) => {
    app.get<{ Params: { file: string } }>(
      '/t/o/:file',
      { schema: { hide: true }, logLevel: 'warn' },
      async (request, reply) => {
        const token = request.params.file.replace(/\.gif$/i, '');
        const agent = request.headers['user-agent'];
        await followups.recordPixelLoad(token, {
          ip: request.ip ?? null,
          userAgent: typeof agent === 'string' ? agent : null,
        });
        return reply
          .header('content-type', 'image/gif')
          .header('cache-control', 'no-store, no-cache, must-revalidate, private, max-age=0')
          .header('pragma', 'no-cache')
          .header('expires', '0')
          .send(TRANSPARENT_GIF);
      },
    );
  };
}
