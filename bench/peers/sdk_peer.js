// Meta's official Node SDK (facebook-nodejs-business-sdk) sending the peers'
// benchmark events to the mock Graph server: run by bench/peers/run.sh, which
// installs the SDK, starts `capi mock-server`, and makes Node trust its CA
// (NODE_EXTRA_CA_CERTS).
//
//   node sdk_peer.js URL PIXEL EVENTS WARMUP IN_FLIGHT
//   (the access token comes from $CAPI_ACCESS_TOKEN)
//
// Event i is the same on both sides (capi_peer.cpp builds it from the same
// formulas): a Purchase from the website with em, ph, fn, ln, client IP, user
// agent, value, currency, event_id and event_source_url. Its strings are
// generated before the measurement (the data a server already holds); building
// the SDK's objects from them, the SDK's normalizing and hashing, serializing
// and sending 1000-event requests, IN_FLIGHT at a time, is measured: the
// process's CPU time (process.cpuUsage(): user + system, every thread of Node)
// from the first event to the last answer. Prints one JSON line.
'use strict';

const path = require('path');
const sdk = require(path.join(process.env.CAPI_PEERS_NODE_MODULES || 'node_modules', 'facebook-nodejs-business-sdk'));
const {FacebookAdsApi, EventRequest, UserData, CustomData, ServerEvent} = sdk;

const [url, pixel, eventsArg, warmupArg, inFlightArg] = process.argv.slice(2);
const token = process.env.CAPI_ACCESS_TOKEN;
if (!url || !pixel || !token) {
  console.error('usage: CAPI_ACCESS_TOKEN=... node sdk_peer.js URL PIXEL EVENTS WARMUP IN_FLIGHT');
  process.exit(2);
}
const events = Number(eventsArg || 50000), warmup = Number(warmupArg || 5000), inFlight = Number(inFlightArg || 8);

// The SDK builds its URLs from the static getter FacebookAdsApi.GRAPH (src/api.js;
// EventRequest.execute -> AdsPixel.createEvent -> FacebookAdsApi.call): point it
// at the mock.
Object.defineProperty(FacebookAdsApi, 'GRAPH', {get: () => url, configurable: true});
FacebookAdsApi.init(token);

const firstNames = ['Mary', 'Jose', 'Ana', 'John', 'Emile', 'Zoe', 'Wei', 'Olga'];
const lastNames = ['Smith', 'Garcia', 'Muller', 'Jones', 'Nguyen', 'Kowalski'];
const userAgent = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) ' +
                  'Chrome/126.0 Safari/537.36';

// The data of event i (as capi_peer.cpp's purchase_data).
function purchaseData(i, nowS) {
  return {
    eventTime: nowS - (i % 3600),
    eventId: `order-${i}`,
    url: `https://shop.example.com/checkout/thank-you?order=${i}`,
    em: `  Customer.${i}@Example.COM `,
    ph: `+1 (650) 555-${1000 + (i % 9000)}`,
    fn: firstNames[i % 8],
    ln: lastNames[i % 6],
    ip: `203.0.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`,
    value: 10 + (i % 100000) / 100,
  };
}

// The caller's construction of one event with the SDK's objects.
function serverEvent(d) {
  const user = new UserData()
    .setEmail(d.em)
    .setPhone(d.ph)
    .setFirstName(d.fn)
    .setLastName(d.ln)
    .setClientIpAddress(d.ip)
    .setClientUserAgent(userAgent);
  const custom = new CustomData().setValue(d.value).setCurrency('USD');
  return new ServerEvent()
    .setEventName('Purchase')
    .setEventTime(d.eventTime)
    .setEventId(d.eventId)
    .setEventSourceUrl(d.url)
    .setActionSource('website')
    .setUserData(user)
    .setCustomData(custom);
}

// Sends data[0..n) in 1000-event requests, inFlight at a time; resolves to the
// number of events the mock said it received.
async function sendAll(data) {
  let next = 0, received = 0;
  async function worker() {
    while (next < data.length) {
      const lo = next, hi = Math.min(data.length, lo + 1000);
      next = hi;
      const batch = [];
      for (let i = lo; i < hi; ++i) batch.push(serverEvent(data[i]));
      const response = await new EventRequest(token, pixel).setEvents(batch).execute();
      received += response.events_received;
    }
  }
  await Promise.all(Array.from({length: inFlight}, worker));
  return received;
}

async function main() {
  // One clock reading for both sides (run.sh sets it), so their events are equal.
  const nowS = Number(process.env.CAPI_PEERS_NOW) || Math.floor(Date.now() / 1000);
  const warm = [];
  for (let i = 0; i < warmup; ++i) warm.push(purchaseData(1000000 + i, nowS));
  const data = [];
  for (let i = 0; i < events; ++i) data.push(purchaseData(i, nowS));
  await sendAll(warm);  // the JIT compiles the hot paths first, as in a long-running server

  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const received = await sendAll(data);
  const t1 = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const seconds = Number(t1 - t0) / 1e9;
  console.log(JSON.stringify({
    peer: `facebook-nodejs-business-sdk ${require(path.join(process.env.CAPI_PEERS_NODE_MODULES || 'node_modules',
                                                            'facebook-nodejs-business-sdk', 'package.json')).version}`,
    node: process.version,
    events, received, seconds,
    cpu_us_per_event: cpuSeconds / events * 1e6,
    events_per_second: events / seconds,
  }));
  if (received !== events) process.exit(1);
}

main().catch((e) => {
  console.error('sdk_peer:', e && e.message ? e.message : e);
  process.exit(1);
});
