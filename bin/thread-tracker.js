#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx compiles on load; nothing to build for the server).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
