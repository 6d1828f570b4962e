#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx compiles on load; nothing to build for the server).
import { register } from 'tsx/esm/api';

register();
const { installProcessGuards } = await import('../src/cli/process-guards.ts');
installProcessGuards((message, error) =>
  process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, code: error?.code })}\n`),
);
await import('../src/cli/main.ts');
