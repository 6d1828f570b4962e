// Build and dev server of the web app. The API server serves web/dist at `/` (SPA fallback), so the app is built
// for the root path; in development vite proxies /api (WebSocket included) to a locally running API server.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

const apiTarget = process.env.API_TARGET ?? 'http://127.0.0.1:3000';

/**
 * Writes .gz and .br next to every text asset, so a static server that serves precompressed files (e.g.
 * @fastify/static with `preCompressed: true`) sends ~112 KB of JavaScript instead of ~360 KB, without compressing
 * on every request.
 */
function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'thread-tracker:precompress',
    apply: 'build',
    configResolved(config) {
      outDir = join(config.root, config.build.outDir);
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((name) => {
          const path = join(dir, name);
          return statSync(path).isDirectory() ? walk(path) : [path];
        });
      for (const file of walk(outDir)) {
        if (!/\.(js|css|html|svg|json)$/.test(file) || statSync(file).size < 1024) continue;
        const content = readFileSync(file);
        writeFileSync(`${file}.gz`, gzipSync(content, { level: 9 }));
        writeFileSync(
          `${file}.br`,
          brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
        );
      }
    },
  };
}

export default defineConfig(({ command, mode }) => ({
  root: 'web',
  base: '/',
  plugins: [react(), precompress()],
  // A build started from a test runner inherits NODE_ENV=test, which would bundle React's development build;
  // a production-mode build is always the production bundle.
  define:
    command === 'build' && mode === 'production'
      ? { 'process.env.NODE_ENV': JSON.stringify('production') }
      : {},
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': { target: apiTarget, ws: true, changeOrigin: false },
    },
  },
}));
