package main

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// addLines seeds f with each line of testdata/config/<name> (blank lines
// and # comments skipped; \n escapes kept literal).
func addLines(f *testing.F, name string) {
	file, err := os.Open("testdata/config/" + name)
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f.Add(line)
	}
	if err := sc.Err(); err != nil {
		f.Fatal(err)
	}
}

// pctEncode escapes everything but unreserved characters, so the result
// has no ',' '=' or spaces and PathUnescape restores s.
func pctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
	}
	return b.String()
}

// headerErrorShape is every message parseHeaders may return: fixed text and
// an item number, nothing from the input.
var headerErrorShape = regexp.MustCompile(`^name=value pairs separated by commas; item [0-9]+(` +
	regexp.QuoteMeta(" has no '='") + "|" +
	regexp.QuoteMeta("'s name is not a header name (letters, digits and !#$%&'*+-.^_`|~)") + "|" +
	regexp.QuoteMeta("'s value has a malformed %-escape") + "|" +
	regexp.QuoteMeta("'s value holds control characters") + ")$")

// FuzzHeaders: parseHeaders never panics; what it accepts are valid header
// names and values, and encoding them again parses back to the same list.
// Its errors never quote the input (it holds credentials).
func FuzzHeaders(f *testing.F) {
	addLines(f, "headers.txt")
	f.Fuzz(func(t *testing.T, in string) {
		hs, err := parseHeaders(in)
		if err != nil {
			if !headerErrorShape.MatchString(err.Error()) {
				t.Fatalf("error %q is not one of the fixed messages (it may quote the input)", err)
			}
			return
		}
		var parts []string
		for _, h := range hs {
			if !validHeaderName(h.name) || !validHeaderValue(h.value) {
				t.Fatalf("accepted invalid header %q: %q", h.name, h.value)
			}
			parts = append(parts, h.name+"="+pctEncode(h.value))
		}
		again, err := parseHeaders(strings.Join(parts, ","))
		if err != nil {
			t.Fatalf("re-encoded headers do not parse: %v", err)
		}
		if !reflect.DeepEqual(again, hs) {
			t.Fatalf("round trip: got %q; want %q", again, hs)
		}
	})
}

// FuzzFlushStrategy: parseFlushStrategy never panics; an accepted strategy
// has a known mode and an interval only where the mode takes one, and its
// canonical spelling parses back to the same.
func FuzzFlushStrategy(f *testing.F) {
	addLines(f, "flush_strategy.txt")
	f.Fuzz(func(t *testing.T, in string) {
		fs, err := parseFlushStrategy(in)
		if err != nil {
			if !strings.Contains(err.Error(), flushStrategyForms) {
				t.Fatalf("error %q does not list the accepted forms", err)
			}
			return
		}
		switch fs.Mode {
		case flushAdaptive:
			if fs.Interval != 0 {
				t.Fatalf("adaptive with interval %v", fs.Interval)
			}
		case flushEnd:
			if fs.Interval < 0 {
				t.Fatalf("end with interval %v", fs.Interval)
			}
		case flushPeriodically, flushContinuously:
			if fs.Interval <= 0 {
				t.Fatalf("%s with interval %v", fs.Mode, fs.Interval)
			}
		default:
			t.Fatalf("unknown mode %q", fs.Mode)
		}
		canon := fs.Mode
		if fs.Interval != 0 {
			canon += "," + strconv.FormatInt(int64(fs.Interval/time.Millisecond), 10)
		}
		again, err := parseFlushStrategy(canon)
		if err != nil || again != fs {
			t.Fatalf("parseFlushStrategy(%q) = %v, %v; want %v", canon, again, err, fs)
		}
	})
}

// FuzzResourceAttributes: parseResourceAttributes never panics; accepted
// attributes have unique non-empty keys, and percent-encoding them again
// parses back to the same list.
func FuzzResourceAttributes(f *testing.F) {
	addLines(f, "resource_attributes.txt")
	f.Fuzz(func(t *testing.T, in string) {
		kvs, err := parseResourceAttributes(in)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		var parts []string
		for _, kv := range kvs {
			if kv.key == "" || seen[kv.key] {
				t.Fatalf("empty or duplicate key %q in %q", kv.key, kvs)
			}
			seen[kv.key] = true
			parts = append(parts, pctEncode(kv.key)+"="+pctEncode(kv.value))
		}
		again, err := parseResourceAttributes(strings.Join(parts, ","))
		if err != nil {
			t.Fatalf("re-encoded attributes do not parse: %v", err)
		}
		if !reflect.DeepEqual(again, kvs) {
			t.Fatalf("round trip: got %q; want %q", again, kvs)
		}
	})
}
