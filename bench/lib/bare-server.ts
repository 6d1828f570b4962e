// The ceiling for the read benchmarks: a bare node:http server returning the same JSON from a Map.
import { createServer } from 'node:http';

const body = process.env.BODY ?? '{}';
const store = new Map<string, string>([['thread', body]]);
const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  const payload = store.get('thread') ?? '{}';
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
