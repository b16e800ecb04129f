'use strict';

// Stateless, so it scales out: two server processes behind a round-robin proxy that knows
// nothing of MCP, and one SDK client whose requests land on both.
const http = require('node:http');
const { loadGoldens, startGoldenUpstream, envForCase } = require('../helpers/upstream');
const { startHttpServer, connectHttp, rawRequest, metricValue } = require('../helpers/server');

const goldens = loadGoldens();
const RESP_FULL = goldens.cases.find((c) => c.name === 'resp-full');
const { agent_id: AGENT, ...ARGS_WITHOUT_AGENT } = RESP_FULL.args;
const CALLS = 6;

/** A node:http proxy on 127.0.0.1 that sends each request to the next of targets in turn. */
async function startRoundRobinProxy(targets) {
  let next = 0;
  const server = http.createServer((req, res) => {
    const target = new URL(targets[next++ % targets.length]);
    const forwarded = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

let upstream;
let replicas;
let proxy;
beforeAll(async () => {
  upstream = await startGoldenUpstream(goldens);
  upstream.setCase(RESP_FULL);
  const env = envForCase(RESP_FULL, upstream);
  replicas = await Promise.all([startHttpServer(env), startHttpServer(env)]);
  proxy = await startRoundRobinProxy(replicas.map((replica) => replica.url));
});
afterAll(async () => {
  await proxy.close();
  for (const replica of replicas) expect(await replica.stop()).toEqual({ code: 0, signal: null });
  await upstream.close();
});

const callsOn = async (replica) => metricValue((await rawRequest(`${replica.url}/metrics`)).text, 'letta_find_tools_calls_total');

test.each(['legacy', 'modern'])('a client negotiating %s is served by both replicas, every call answered', async (negotiation) => {
  const before = await Promise.all(replicas.map(callsOn));
  const session = await connectHttp(proxy.url, { 'x-agent-id': AGENT }, negotiation);
  try {
    for (let i = 0; i < CALLS; i += 1) expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_FULL.expected_result);
  } finally {
    await session.close();
  }
  const served = (await Promise.all(replicas.map(callsOn))).map((calls, i) => calls - before[i]);
  expect(served.reduce((sum, calls) => sum + calls, 0)).toBe(CALLS);
  for (const calls of served) expect(calls).toBeGreaterThan(0);
});
