package main

import (
	"bytes"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

func TestCloseLenLong(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 20000, 3 << 20} {
		val := string(bytes.Repeat([]byte("x"), n))
		b := appendKVString([]byte{0xAA}, 1, "k", val)
		if b[0] != 0xAA {
			t.Fatalf("n=%d: prefix clobbered", n)
		}
		// b[1:] is tag(1, LEN) + len + KeyValue.
		var holder commonpb.KeyValueList
		if err := proto.Unmarshal(b[1:], &holder); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(holder.Values) != 1 || holder.Values[0].Key != "k" || holder.Values[0].Value.GetStringValue() != val {
			t.Fatalf("n=%d: decoded %v", n, holder.Values[0].GetKey())
		}
	}
}

func TestAppendKVKinds(t *testing.T) {
	var b []byte
	b = appendKVInt(b, 1, "i", -5)
	b = appendKVBool(b, 1, "b", true)
	b = appendKVDouble(b, 1, "d", 1.5)
	b = appendKVStrings(b, 1, "a", []string{"x", "y"})
	b = appendKVString(b, 1, "e", "")
	var l commonpb.KeyValueList
	if err := proto.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	v := l.Values
	if v[0].Value.GetIntValue() != -5 || !v[1].Value.GetBoolValue() || v[2].Value.GetDoubleValue() != 1.5 ||
		len(v[3].Value.GetArrayValue().GetValues()) != 2 || v[3].Value.GetArrayValue().Values[1].GetStringValue() != "y" {
		t.Fatalf("decoded %v", v)
	}
	if _, ok := v[4].Value.Value.(*commonpb.AnyValue_StringValue); !ok {
		t.Fatalf("empty string lost its type: %v", v[4])
	}
}
