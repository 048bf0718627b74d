package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func telLambdaEnv(extra map[string]string) func(string) string {
	env := map[string]string{
		"AWS_REGION":                      "eu-west-1",
		"AWS_LAMBDA_FUNCTION_NAME":        "orders-api",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_RUNTIME_API":          "127.0.0.1:9001",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// decodeResource unmarshals what appendResource wrote as field 1.
func telDecodeResource(t *testing.T, r *resource) *resourcepb.Resource {
	t.Helper()
	b := r.appendResource(nil, 1)
	num, typ, n := protowire.ConsumeTag(b)
	if num != 1 || typ != protowire.BytesType {
		t.Fatalf("appendResource wrote field %d type %d", num, typ)
	}
	inner, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		t.Fatalf("appendResource: bad length (%d of %d)", n+m, len(b))
	}
	var res resourcepb.Resource
	if err := proto.Unmarshal(inner, &res); err != nil {
		t.Fatalf("unmarshal resource: %v", err)
	}
	return &res
}

func telAnyText(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprintf("int:%d", x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprintf("bool:%v", x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprintf("double:%v", x.DoubleValue)
	default:
		return fmt.Sprintf("%v", v)
	}
}

func telKVs(kvs []*commonpb.KeyValue) string {
	s := ""
	for _, kv := range kvs {
		s += kv.Key + "=" + telAnyText(kv.Value) + ";"
	}
	return s
}

func TestDetectResource(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		env  map[string]string
		want string
	}{
		{
			name: "detected only",
			want: "cloud.provider=aws;cloud.platform=aws_lambda;cloud.region=eu-west-1;faas.name=orders-api;faas.version=$LATEST;faas.max_memory=int:134217728;service.name=orders-api;",
		},
		{
			name: "OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES",
			cfg: Config{ServiceName: "checkout", ResourceAttributes: []keyValue{
				{"service.name", "ignored"}, {"deployment.environment.name", "prod"}}},
			want: "cloud.provider=aws;cloud.platform=aws_lambda;cloud.region=eu-west-1;faas.name=orders-api;faas.version=$LATEST;faas.max_memory=int:134217728;service.name=checkout;deployment.environment.name=prod;",
		},
		{
			name: "service.name from OTEL_RESOURCE_ATTRIBUTES beats the function name",
			cfg:  Config{ResourceAttributes: []keyValue{{"service.name", "orders"}}},
			want: "cloud.provider=aws;cloud.platform=aws_lambda;cloud.region=eu-west-1;faas.name=orders-api;faas.version=$LATEST;faas.max_memory=int:134217728;service.name=orders;",
		},
		{
			name: "user values override detected ones in place; last duplicate wins",
			cfg: Config{ResourceAttributes: []keyValue{
				{"cloud.region", "custom"}, {"team", "a"}, {"team", "b"}, {"faas.max_memory", "1GB"}}},
			want: "cloud.provider=aws;cloud.platform=aws_lambda;cloud.region=custom;faas.name=orders-api;faas.version=$LATEST;faas.max_memory=1GB;service.name=orders-api;team=b;",
		},
		{
			name: "missing environment invents nothing",
			env: map[string]string{"AWS_REGION": "", "AWS_LAMBDA_FUNCTION_NAME": "",
				"AWS_LAMBDA_FUNCTION_VERSION": "", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"},
			want: "cloud.provider=aws;cloud.platform=aws_lambda;service.name=unknown_service;",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := detectResource(&tt.cfg, telLambdaEnv(tt.env))
			if got := telKVs(telDecodeResource(t, r).Attributes); got != tt.want {
				t.Errorf("got %v; want %v", got, tt.want)
			}
			// attrs and appendResource agree.
			if got, want := len(r.attrs()), len(telDecodeResource(t, r).Attributes); got != want {
				t.Errorf("attrs: got %v; want %v", got, want)
			}
		})
	}
}

func TestResourceAccountID(t *testing.T) {
	r := detectResource(&Config{}, telLambdaEnv(nil))
	r.setAccountID("")
	if got := r.accountID(); got != "" {
		t.Fatalf("got %v; want empty", got)
	}
	before := r.attrs()
	r.setAccountID("123456789012")
	got := telKVs(telDecodeResource(t, r).Attributes)
	want := "cloud.provider=aws;cloud.platform=aws_lambda;cloud.region=eu-west-1;cloud.account.id=123456789012;faas.name=orders-api;faas.version=$LATEST;faas.max_memory=int:134217728;service.name=orders-api;"
	if got != want {
		t.Errorf("got %v; want %v", got, want)
	}
	if len(before) != 7 {
		t.Errorf("old snapshot changed: got %v attrs; want 7", len(before))
	}
	for _, kv := range r.attrs() {
		var m commonpb.KeyValue
		if err := proto.Unmarshal(kv.kv, &m); err != nil || m.Key != kv.key {
			t.Errorf("encodedKV %q: got key %q, err %v", kv.key, m.Key, err)
		}
	}

	// A user-given account id is never overridden.
	u := detectResource(&Config{ResourceAttributes: []keyValue{{"cloud.account.id", "999999999999"}}}, telLambdaEnv(nil))
	u.setAccountID("123456789012")
	if got := telKVs(telDecodeResource(t, u).Attributes); got != "cloud.provider=aws;cloud.platform=aws_lambda;cloud.region=eu-west-1;cloud.account.id=999999999999;faas.name=orders-api;faas.version=$LATEST;faas.max_memory=int:134217728;service.name=orders-api;" {
		t.Errorf("user account: got %v", got)
	}
}

func TestResourceConcurrent(t *testing.T) {
	r := detectResource(&Config{}, telLambdaEnv(nil))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				r.setAccountID(fmt.Sprintf("1234567890%02d", j))
				_ = r.appendResource(nil, 1)
				_ = r.attrs()
			}
		}()
	}
	wg.Wait()
}

func TestAccountFromARN(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:lambda:us-east-1:123456789012:function:orders-api", "123456789012"},
		{"arn:aws:lambda:us-east-1:123456789012:function:orders-api:prod", "123456789012"},
		{"arn:aws-cn:lambda:cn-north-1:210987654321:function:f:7", "210987654321"},
		{"arn:aws:lambda:us-east-1:12345:function:f", ""},
		{"arn:aws:lambda:us-east-1:12345678901x:function:f", ""},
		{"arn:aws:lambda:us-east-1", ""},
		{"orders-api", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := accountFromARN(tt.arn); got != tt.want {
			t.Errorf("accountFromARN(%q): got %v; want %v", tt.arn, got, tt.want)
		}
	}
}

// TestResourceLogNames: the wrapper's log names become faas.instance and
// the aws.log.* arrays; a user's values win; nothing changes on a repeat.
func TestResourceLogNames(t *testing.T) {
	r := detectResource(&Config{}, telLambdaEnv(nil))
	if !r.setLogNames("/aws/lambda/orders-api", "2026/11/21/[$LATEST]abc") {
		t.Fatal("setLogNames reported no change")
	}
	got := logNameKVs(telDecodeResource(t, r).Attributes)
	want := "cloud.provider=aws;cloud.platform=aws_lambda;cloud.region=eu-west-1;faas.name=orders-api;faas.version=$LATEST;faas.instance=2026/11/21/[$LATEST]abc;faas.max_memory=int:134217728;aws.log.group.names=[/aws/lambda/orders-api];aws.log.stream.names=[2026/11/21/[$LATEST]abc];service.name=orders-api;"
	if got != want {
		t.Errorf("got %v; want %v", got, want)
	}
	if r.setLogNames("/aws/lambda/orders-api", "2026/11/21/[$LATEST]abc") {
		t.Error("the same names again reported a change")
	}

	u := detectResource(&Config{ResourceAttributes: []keyValue{{"faas.instance", "mine"}, {"aws.log.group.names", "g"}}}, telLambdaEnv(nil))
	u.setLogNames("/aws/lambda/orders-api", "s")
	got = logNameKVs(telDecodeResource(t, u).Attributes)
	want = "cloud.provider=aws;cloud.platform=aws_lambda;cloud.region=eu-west-1;faas.name=orders-api;faas.version=$LATEST;faas.instance=mine;faas.max_memory=int:134217728;aws.log.stream.names=[s];service.name=orders-api;aws.log.group.names=g;"
	if got != want {
		t.Errorf("user values: got %v; want %v", got, want)
	}
}

// logNameKVs is telKVs with string arrays written as [a b].
func logNameKVs(kvs []*commonpb.KeyValue) string {
	s := ""
	for _, kv := range kvs {
		if a := kv.Value.GetArrayValue(); a != nil {
			var vals []string
			for _, v := range a.Values {
				vals = append(vals, v.GetStringValue())
			}
			s += kv.Key + "=[" + strings.Join(vals, " ") + "];"
			continue
		}
		s += kv.Key + "=" + telAnyText(kv.Value) + ";"
	}
	return s
}

func TestReadHandoff(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	long := strings.Repeat("x", maxHandoffValue+1)
	tests := []struct {
		name          string
		path          string
		group, stream string
		err           string
	}{
		{"missing: no wrapper", filepath.Join(dir, "none"), "", "", ""},
		{"the wrapper's", write("ok", "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/f\nAWS_LAMBDA_LOG_STREAM_NAME=2026/11/21/[$LATEST]ab=c\n"), "/aws/lambda/f", "2026/11/21/[$LATEST]ab=c", ""},
		{"unknown keys and junk", write("junk", "# comment\nOTHER=1\nnoequals\nAWS_LAMBDA_LOG_GROUP_NAME=\nAWS_LAMBDA_LOG_STREAM_NAME=s"), "", "s", ""},
		{"too long, not UTF-8", write("bad", "AWS_LAMBDA_LOG_GROUP_NAME="+long+"\nAWS_LAMBDA_LOG_STREAM_NAME=\xff\n"), "", "", ""},
		{"oversized file", write("big", strings.Repeat("A=b\n", maxHandoffBytes)), "", "", "over 4096 bytes"},
		{"a directory", dir, "", "", "handoff file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, s, err := readHandoff(tt.path)
			if g != tt.group || s != tt.stream || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("readHandoff = %q, %q, %v; want %q, %q, error containing %q", g, s, err, tt.group, tt.stream, tt.err)
			}
		})
	}
}
