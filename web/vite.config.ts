// Build and dev server of the web app. The API server serves web/dist at `/` (SPA fallback), so the app is built
// for the root path; in development vite proxies /api (WebSocket included) to a locally running API server.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const apiTarget = process.env.API_TARGET ?? 'http://127.0.0.1:3000';

export default defineConfig(({ command, mode }) => ({
  root: 'web',
  base: '/',
  plugins: [react()],
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
