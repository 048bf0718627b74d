// send.js: the OpenTelemetry JS SDK as a client of the extension's
// receivers, driven by ../js_test.go.
//
//   node send.js <http|proto|grpc> <url> <reference-url> <cell> <gzip|none>
//
// It builds a BasicTracerProvider with two BatchSpanProcessors: one whose
// exporter (@opentelemetry/exporter-trace-otlp-http (JSON), -proto or
// -grpc) sends to <url> (the extension), and one with an exporter of the
// same kind sending to <reference-url> (the test's reference backend), so
// both get the very same spans. It creates 4 spans (attributes of every
// type, an event, a link, an error status, a remote parent), force-flushes,
// shuts down, and prints {"sent":4,"errors":[...]} on stdout. It exits 1 if
// any export to either URL failed.
'use strict';

const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const [kind, url, refURL, cell, gzip] = process.argv.slice(2);
if (!kind || !url || !refURL || !cell || !gzip) {
  console.error('usage: node send.js <http|proto|grpc> <url> <reference-url> <cell> <gzip|none>');
  process.exit(2);
}

const exporterModules = {
  http: '@opentelemetry/exporter-trace-otlp-http',
  proto: '@opentelemetry/exporter-trace-otlp-proto',
  grpc: '@opentelemetry/exporter-trace-otlp-grpc',
};
if (!exporterModules[kind]) {
  console.error(`exporter ${JSON.stringify(kind)}: want http, proto or grpc`);
  process.exit(2);
}
const { OTLPTraceExporter } = require(exporterModules[kind]);

const errors = [];

// checked wraps an exporter and records every failed export.
function checked(label, inner) {
  return {
    export(spans, done) {
      inner.export(spans, (result) => {
        if (result.code !== 0) {
          errors.push(`${label}: ${result.error ? result.error.message : 'export failed'}`);
        }
        done(result);
      });
    },
    shutdown() { return inner.shutdown(); },
    forceFlush() { return inner.forceFlush ? inner.forceFlush() : Promise.resolve(); },
  };
}

// 5 s per export: the test's invocation is 10 s.
const opts = (u, compression) => ({ url: u, compression, timeoutMillis: 5000 });

async function main() {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'e2e-js-sdk',
      'e2e.cell': cell,
      'telemetry.sdk.language': 'nodejs',
      'e2e.resource.int': 7,
    }),
    spanProcessors: [
      new BatchSpanProcessor(checked('extension', new OTLPTraceExporter(opts(url, gzip)))),
      new BatchSpanProcessor(checked('reference', new OTLPTraceExporter(opts(refURL, 'none')))),
    ],
  });
  const tracer = provider.getTracer('e2e/js', '1.0.0');
  const remote = api.trace.wrapSpanContext({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: api.TraceFlags.SAMPLED,
    isRemote: true,
  });
  const parentCtx = api.trace.setSpan(api.ROOT_CONTEXT, remote);
  const t0 = Date.now();
  const root = tracer.startSpan('GET /items', {
    kind: api.SpanKind.SERVER,
    startTime: t0,
    attributes: {
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'e2e.ratio': 0.5,
      'e2e.flag': true,
      'e2e.tags': ['a', 'b', 'ünïcødé'],
      'e2e.ints': [1, 2, 3],
    },
  }, parentCtx);
  root.addEvent('cache.miss', { key: 'items:1', tries: 2 }, t0 + 1);
  const rootCtx = api.trace.setSpan(parentCtx, root);
  const db = tracer.startSpan('SELECT items', { kind: api.SpanKind.CLIENT, startTime: t0 + 2,
    attributes: { 'db.system.name': 'postgresql' } }, rootCtx);
  db.end(t0 + 3);
  const work = tracer.startSpan('render', { kind: api.SpanKind.INTERNAL, startTime: t0 + 4,
    links: [{ context: db.spanContext(), attributes: { 'link.kind': 'after' } }] }, rootCtx);
  work.recordException(new Error('template missing'), t0 + 5);
  work.setStatus({ code: api.SpanStatusCode.ERROR, message: 'template missing' });
  work.end(t0 + 6);
  const other = provider.getTracer('e2e/js-other');
  const pub = other.startSpan('publish', { kind: api.SpanKind.PRODUCER, startTime: t0 + 7 }, rootCtx);
  pub.end(t0 + 8);
  root.end(t0 + 9);

  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(JSON.stringify({ sent: 4, errors }) + '\n');
  process.exit(errors.length ? 1 : 0);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.stdout.write(JSON.stringify({ sent: 0, errors: [...errors, String(err)] }) + '\n');
  process.exit(1);
});
