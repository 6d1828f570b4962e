/**
 * An OpenAI-compatible server for tests and benchmarks: POST /v1/chat/completions (and GET /v1/models) on a
 * loopback port, driven by the real openai SDK.
 *
 * What it answers is scripted: `enqueue(...)` queues steps taken one per request (an answer, an error status with
 * an optional Retry-After, a delay before answering, a connection dropped without an answer); with nothing queued it
 * answers `defaultAnswer(request)`. Every request is recorded (model, messages, authorization) for assertions.
 * A separate process can script it too: POST /__control/enqueue with a JSON array of steps, POST /__control/reset.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatRequest {
  model: string;
  messages: { role: string; content: string }[];
  authorization: string | undefined;
  at: number;
}

export type Step =
  /** Answers with this text. */
  | { content: string; delayMs?: number }
  /** Answers with an error status (429 adds Retry-After when given). */
  | { status: number; message?: string; retryAfterSeconds?: number; delayMs?: number }
  /** Waits, then closes the connection without answering. */
  | { drop: true; delayMs?: number }
  /** Never answers (until the client gives up). */
  | { hang: true };

export interface OpenAiEmulatorOptions {
  /** Required bearer key; undefined = any (or none). */
  apiKey?: string;
  defaultAnswer?: (request: ChatRequest) => string;
  /** Added before every answer (simulates model latency). */
  latencyMs?: number;
}

export interface OpenAiEmulator {
  /** Base URL for the SDK (`…/v1`). */
  readonly baseURL: string;
  readonly requests: ChatRequest[];
  enqueue(...steps: Step[]): void;
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_ANSWER =
  'Hi,\n\nI wanted to follow up on my previous message in case it got buried. Would you have a few minutes to take a look this week?\n\nThanks a lot,';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startOpenAiEmulator(options: OpenAiEmulatorOptions = {}): Promise<OpenAiEmulator> {
  const requests: ChatRequest[] = [];
  let queue: Step[] = [];
  let counter = 0;
  const hanging = new Set<ServerResponse>();

  const server: Server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'POST' && url.pathname === '/__control/enqueue') {
        queue.push(...(JSON.parse(await readBody(req)) as Step[]));
        return sendJson(res, 200, { queued: queue.length });
      }
      if (req.method === 'POST' && url.pathname === '/__control/reset') {
        queue = [];
        requests.length = 0;
        return sendJson(res, 200, {});
      }
      if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        return sendJson(res, 401, {
          error: {
            message: 'Incorrect API key provided',
            type: 'invalid_request_error',
            code: 'invalid_api_key',
          },
        });
      }
      if (req.method === 'GET' && url.pathname === '/v1/models') {
        return sendJson(res, 200, {
          object: 'list',
          data: [{ id: 'emulated', object: 'model', owned_by: 'tests' }],
        });
      }
      if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
        return sendJson(res, 404, { error: { message: 'Unknown route', type: 'invalid_request_error' } });
      }
      const body = JSON.parse(await readBody(req)) as { model?: string; messages?: ChatRequest['messages'] };
      if (!body.model || !Array.isArray(body.messages)) {
        return sendJson(res, 400, {
          error: { message: 'model and messages are required', type: 'invalid_request_error' },
        });
      }
      const request: ChatRequest = {
        model: body.model,
        messages: body.messages,
        authorization: req.headers.authorization,
        at: Date.now(),
      };
      requests.push(request);
      const step: Step = queue.shift() ?? {
        content: (options.defaultAnswer ?? (() => DEFAULT_ANSWER))(request),
      };
      if ('hang' in step) {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      const delay = (step.delayMs ?? 0) + (options.latencyMs ?? 0);
      if (delay > 0) await sleep(delay);
      if ('drop' in step) {
        req.socket.destroy();
        return;
      }
      if ('status' in step) {
        const headers: Record<string, string> = {};
        if (step.retryAfterSeconds !== undefined) headers['retry-after'] = String(step.retryAfterSeconds);
        return sendJson(
          res,
          step.status,
          {
            error: {
              message: step.message ?? `Emulated error ${step.status}`,
              type: 'server_error',
              code: null,
            },
          },
          headers,
        );
      }
      counter++;
      return sendJson(res, 200, {
        id: `chatcmpl-emu-${counter}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: step.content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 50, completion_tokens: 40, total_tokens: 90 },
      });
    } catch (error) {
      if (!res.headersSent)
        sendJson(res, 500, { error: { message: (error as Error).message, type: 'server_error' } });
    }
  });
  server.keepAliveTimeout = 1000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...steps) => queue.push(...steps),
    reset: () => {
      queue = [];
      requests.length = 0;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
}
