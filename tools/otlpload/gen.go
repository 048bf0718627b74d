// gen.go owns the generated payloads: what an instrumented Lambda function
// behind API Gateway sends, with the resource, scopes, names, attribute
// counts and id shapes of real SDK output, reproducible from a seed.
package main

import (
	"fmt"
	"math/rand/v2"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// baseTime is a fixed instant, so that payloads are reproducible.
const baseTime uint64 = 1_767_225_600_000_000_000 // 2026-01-01T00:00:00Z

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func i64(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func f64(k string, v float64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v}}}
}

func boolean(k string, v bool) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}}
}

func resource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", "orders-api"),
		str("service.version", "1.42.0"),
		str("deployment.environment.name", "production"),
		str("cloud.provider", "aws"),
		str("cloud.platform", "aws_lambda"),
		str("cloud.region", "eu-west-1"),
		str("faas.name", "orders-api-prod-handler"),
		str("faas.version", "$LATEST"),
		str("faas.instance", "2026/01/01/[$LATEST]8f3c2a91d4b64e0f9a7c5e2d1b0a3f64"),
		i64("faas.max_memory", 1024<<20),
		str("telemetry.sdk.name", "opentelemetry"),
		str("telemetry.sdk.language", "nodejs"),
		str("telemetry.sdk.version", "1.30.0"),
	}}
}

func scope(name string) *commonpb.InstrumentationScope {
	return &commonpb.InstrumentationScope{Name: name, Version: "0.55.0"}
}

func randID(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// spanShape is one span of a request's trace: an API Gateway invocation
// fanning out to DynamoDB, an HTTP dependency and some local work.
type spanShape struct {
	name string
	kind tracepb.Span_SpanKind
	// attrs returns the span's attributes (about ten, as auto-instrumentation
	// produces).
	attrs func(rng *rand.Rand, orderID int) []*commonpb.KeyValue
}

var traceShape = []spanShape{
	{"GET /orders/{orderId}", tracepb.Span_SPAN_KIND_SERVER, func(rng *rand.Rand, id int) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{
			str("http.request.method", "GET"), str("http.route", "/orders/{orderId}"),
			str("url.path", fmt.Sprintf("/orders/%d", id)), str("url.scheme", "https"),
			i64("http.response.status_code", 200), str("server.address", "api.example.com"),
			str("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"),
			str("faas.trigger", "http"), str("faas.invocation_id", fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)),
			boolean("faas.coldstart", false), str("network.protocol.version", "1.1"),
		}
	}},
	{"DynamoDB.GetItem", tracepb.Span_SPAN_KIND_CLIENT, func(rng *rand.Rand, id int) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{
			str("rpc.system", "aws-api"), str("rpc.service", "DynamoDB"), str("rpc.method", "GetItem"),
			str("db.system.name", "aws.dynamodb"), str("aws.dynamodb.table_names", "orders-prod"),
			str("aws.request_id", fmt.Sprintf("%016X%016X", rng.Uint64(), rng.Uint64())), str("cloud.region", "eu-west-1"),
			i64("http.response.status_code", 200), str("server.address", "dynamodb.eu-west-1.amazonaws.com"), i64("server.port", 443),
		}
	}},
	{"DynamoDB.Query", tracepb.Span_SPAN_KIND_CLIENT, func(rng *rand.Rand, id int) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{
			str("rpc.system", "aws-api"), str("rpc.service", "DynamoDB"), str("rpc.method", "Query"),
			str("db.system.name", "aws.dynamodb"), str("aws.dynamodb.table_names", "order-items-prod"),
			i64("aws.dynamodb.count", int64(1+rng.IntN(20))), f64("aws.dynamodb.consumed_capacity", 0.5+float64(rng.IntN(8))/2),
			str("aws.request_id", fmt.Sprintf("%016X%016X", rng.Uint64(), rng.Uint64())),
			i64("http.response.status_code", 200), str("server.address", "dynamodb.eu-west-1.amazonaws.com"),
		}
	}},
	{"POST", tracepb.Span_SPAN_KIND_CLIENT, func(rng *rand.Rand, id int) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{
			str("http.request.method", "POST"), str("url.full", "https://payments.internal.example.com/v2/authorizations"),
			str("server.address", "payments.internal.example.com"), i64("server.port", 443),
			i64("http.response.status_code", 201), i64("http.request.body.size", int64(300+rng.IntN(400))),
			i64("http.response.body.size", int64(100+rng.IntN(200))), str("network.protocol.version", "1.1"),
			str("network.peer.address", "10.0.12.34"), str("user_agent.original", "node-fetch/1.0"),
		}
	}},
	{"compute order total", tracepb.Span_SPAN_KIND_INTERNAL, func(rng *rand.Rand, id int) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{
			str("code.function.name", "computeTotal"), str("code.file.path", "/var/task/src/orders/total.js"),
			i64("code.line.number", 87), i64("order.id", int64(id)), i64("order.items", int64(1+rng.IntN(12))),
			f64("order.total", float64(rng.IntN(50000))/100), str("order.currency", "EUR"),
			boolean("order.discounted", rng.IntN(4) == 0), str("customer.tier", "gold"), str("feature_flag.key", "new-pricing"),
		}
	}},
	{"SQS.SendMessage", tracepb.Span_SPAN_KIND_PRODUCER, func(rng *rand.Rand, id int) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{
			str("rpc.system", "aws-api"), str("rpc.service", "SQS"), str("rpc.method", "SendMessage"),
			str("messaging.system", "aws_sqs"), str("messaging.destination.name", "order-events-prod"),
			str("messaging.operation.type", "send"), str("messaging.message.id", fmt.Sprintf("%08x-%04x-%04x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff)),
			str("aws.request_id", fmt.Sprintf("%016X%016X", rng.Uint64(), rng.Uint64())),
			i64("http.response.status_code", 200), str("server.address", "sqs.eu-west-1.amazonaws.com"),
		}
	}},
}

// genTraces makes n spans: whole request traces of len(traceShape) spans
// (a server span and its children), cut at n.
func genTraces(rng *rand.Rand, n int) *tracepb.TracesData {
	ss := &tracepb.ScopeSpans{Scope: scope("@opentelemetry/instrumentation-aws-lambda"), SchemaUrl: "https://opentelemetry.io/schemas/1.26.0"}
	var traceID, rootID []byte
	var start uint64
	orderID := 0
	for i := range n {
		k := i % len(traceShape)
		shape := traceShape[k]
		if k == 0 {
			traceID, rootID = randID(rng, 16), randID(rng, 8)
			start = baseTime + uint64(i)*1_000_000
			orderID = 100000 + rng.IntN(900000)
		}
		sp := &tracepb.Span{
			TraceId: traceID, SpanId: randID(rng, 8),
			Name: shape.name, Kind: shape.kind,
			Flags:      0x101, // sampled; HAS_IS_REMOTE set, IS_REMOTE clear: a local parent
			Attributes: shape.attrs(rng, orderID),
			Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_UNSET},
		}
		offset := uint64(k) * 2_000_000
		sp.StartTimeUnixNano = start + offset
		sp.EndTimeUnixNano = sp.StartTimeUnixNano + uint64(500_000+rng.IntN(20_000_000))
		if k == 0 {
			sp.SpanId = rootID
			sp.TraceState = "rojo=00f067aa0ba902b7"
			sp.EndTimeUnixNano = start + uint64(len(traceShape))*2_000_000 + 25_000_000
			sp.Events = []*tracepb.Span_Event{{TimeUnixNano: start + 100_000, Name: "request.validated",
				Attributes: []*commonpb.KeyValue{i64("body.size", int64(rng.IntN(2048)))}}}
		} else {
			sp.ParentSpanId = rootID
		}
		if shape.kind == tracepb.Span_SPAN_KIND_CLIENT && rng.IntN(10) == 0 {
			sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "ProvisionedThroughputExceededException"}
			sp.Events = append(sp.Events, &tracepb.Span_Event{TimeUnixNano: sp.EndTimeUnixNano, Name: "exception", Attributes: []*commonpb.KeyValue{
				str("exception.type", "ProvisionedThroughputExceededException"),
				str("exception.message", "The level of configured provisioned throughput for the table was exceeded."),
				str("exception.stacktrace", "ProvisionedThroughputExceededException: The level of configured provisioned throughput for the table was exceeded.\n    at throwDefaultError (/var/task/node_modules/@smithy/smithy-client/dist-cjs/index.js:867:20)\n    at /var/task/src/orders/get.js:31:17"),
			}})
		}
		if k == 3 {
			sp.Links = []*tracepb.Span_Link{{TraceId: randID(rng, 16), SpanId: randID(rng, 8), Attributes: []*commonpb.KeyValue{str("link.reason", "retry")}}}
		}
		ss.Spans = append(ss.Spans, sp)
	}
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{Resource: resource(), ScopeSpans: []*tracepb.ScopeSpans{ss}, SchemaUrl: "https://opentelemetry.io/schemas/1.26.0"}}}
}

// genMetrics makes n data points spread over a request-duration histogram,
// a request counter and a memory gauge, eight points (routes) per metric.
func genMetrics(rng *rand.Rand, n int) *metricspb.MetricsData {
	sm := &metricspb.ScopeMetrics{Scope: scope("orders-api")}
	routes := []string{"/orders/{orderId}", "/orders", "/orders/{orderId}/items", "/health", "/carts/{cartId}", "/checkout", "/payments", "/refunds"}
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	labels := func(i int) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{str("http.route", routes[i%len(routes)]), str("http.request.method", "GET"), i64("http.response.status_code", 200)}
	}
	for made, m := 0, 0; made < n; m++ {
		k := min(len(routes), n-made)
		start, now := baseTime+uint64(m)*60_000_000_000, baseTime+uint64(m+1)*60_000_000_000
		var metric *metricspb.Metric
		switch m % 3 {
		case 0:
			h := &metricspb.Histogram{AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA}
			for i := range k {
				counts := make([]uint64, len(bounds)+1)
				var total uint64
				for j := range counts {
					counts[j] = uint64(rng.IntN(40))
					total += counts[j]
				}
				sum := float64(total) * 0.08
				h.DataPoints = append(h.DataPoints, &metricspb.HistogramDataPoint{Attributes: labels(i), StartTimeUnixNano: start, TimeUnixNano: now,
					Count: total, Sum: &sum, BucketCounts: counts, ExplicitBounds: bounds, Min: ptr(0.002), Max: ptr(4.7)})
			}
			metric = &metricspb.Metric{Name: "http.server.request.duration", Unit: "s", Description: "Duration of HTTP server requests.", Data: &metricspb.Metric_Histogram{Histogram: h}}
		case 1:
			s := &metricspb.Sum{AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA, IsMonotonic: true}
			for i := range k {
				s.DataPoints = append(s.DataPoints, &metricspb.NumberDataPoint{Attributes: labels(i), StartTimeUnixNano: start, TimeUnixNano: now,
					Value: &metricspb.NumberDataPoint_AsInt{AsInt: int64(rng.IntN(1000))}})
			}
			metric = &metricspb.Metric{Name: "orders.processed", Unit: "{order}", Data: &metricspb.Metric_Sum{Sum: s}}
		default:
			g := &metricspb.Gauge{}
			for i := range k {
				g.DataPoints = append(g.DataPoints, &metricspb.NumberDataPoint{Attributes: labels(i), TimeUnixNano: now,
					Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: float64(100<<20 + rng.IntN(400<<20))}})
			}
			metric = &metricspb.Metric{Name: "process.memory.usage", Unit: "By", Data: &metricspb.Metric_Gauge{Gauge: g}}
		}
		sm.Metrics = append(sm.Metrics, metric)
		made += k
	}
	return &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{Resource: resource(), ScopeMetrics: []*metricspb.ScopeMetrics{sm}}}}
}

func ptr[T any](v T) *T { return &v }

// genLogs makes n application log records as a structured logger emits
// them, with the trace context of their invocation.
func genLogs(rng *rand.Rand, n int) *logspb.LogsData {
	sl := &logspb.ScopeLogs{Scope: scope("pino")}
	messages := []struct {
		sev  logspb.SeverityNumber
		text string
		body string
	}{
		{logspb.SeverityNumber_SEVERITY_NUMBER_INFO, "INFO", "order %d fetched from DynamoDB in %d ms"},
		{logspb.SeverityNumber_SEVERITY_NUMBER_DEBUG, "DEBUG", "cache miss for order %d after %d ms"},
		{logspb.SeverityNumber_SEVERITY_NUMBER_WARN, "WARN", "payment provider slow for order %d: %d ms"},
		{logspb.SeverityNumber_SEVERITY_NUMBER_ERROR, "ERROR", "failed to publish event for order %d after %d ms: ThrottlingException"},
	}
	var traceID, spanID []byte
	reqID := ""
	for i := range n {
		if i%8 == 0 {
			traceID, spanID = randID(rng, 16), randID(rng, 8)
			reqID = fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
		}
		m := messages[rng.IntN(len(messages))]
		t := baseTime + uint64(i)*250_000
		sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{
			TimeUnixNano: t, ObservedTimeUnixNano: t + 40_000,
			SeverityNumber: m.sev, SeverityText: m.text,
			Body:    &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf(m.body, 100000+rng.IntN(900000), rng.IntN(300))}},
			TraceId: traceID, SpanId: spanID, Flags: 1,
			Attributes: []*commonpb.KeyValue{
				str("faas.invocation_id", reqID), str("code.function.name", "handler"),
				str("code.file.path", "/var/task/src/orders/get.js"), i64("code.line.number", int64(10+rng.IntN(200))),
				str("log.logger", "orders"), i64("thread.id", 1),
			},
		})
	}
	return &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{Resource: resource(), ScopeLogs: []*logspb.ScopeLogs{sl}}}}
}
