//go:build unix

// fakeaws_test.go owns the fake AWS control plane deploy.sh talks to: the
// Lambda layer REST paths the AWS CLI uses (PublishLayerVersion,
// ListLayerVersions, DeleteLayerVersion) and STS GetCallerIdentity, all on one
// httptest server so AWS_ENDPOINT_URL can point every service at it. It keeps
// layer versions in memory and records every call for the tests to assert.
package layertest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	fakeAccount = "123456789012"
	fakeRegion  = "eu-west-1"
	// fakeKeyID is the access key in the test's credentials file; requests
	// signed with any other key are rejected like AWS rejects a bad key.
	fakeKeyID = "AKIDLAYERTEST0000000"
)

// awsCall is one request the fake served.
type awsCall struct {
	Op          string // GetCallerIdentity, PublishLayerVersion, ListLayerVersions, DeleteLayerVersion
	Layer       string
	Version     int // DeleteLayerVersion
	Runtimes    []string
	Archs       []string
	Description string
	Zip         []byte
}

// layerVersion is one stored version of a layer.
type layerVersion struct {
	Version     int
	Description string
	Runtimes    []string
	Archs       []string
	Zip         []byte
}

// fakeAWS is the in-memory control plane. All fields are guarded by mu.
type fakeAWS struct {
	srv *httptest.Server

	mu         sync.Mutex
	layers     map[string][]layerVersion
	next       map[string]int // next version number per layer; never reused, like Lambda
	calls      []awsCall
	unexpected []string // requests the fake does not implement
}

func newFakeAWS(t *testing.T) *fakeAWS {
	t.Helper()
	f := &fakeAWS{layers: map[string][]layerVersion{}, next: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, u := range f.unexpected {
			t.Errorf("fake AWS got an unexpected request: %s", u)
		}
	})
	return f
}

// url is the endpoint for AWS_ENDPOINT_URL.
func (f *fakeAWS) url() string { return f.srv.URL }

// seed stores n versions of layer as if published earlier.
func (f *fakeAWS) seed(layer string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.next[layer]++
		f.layers[layer] = append(f.layers[layer], layerVersion{
			Version:     f.next[layer],
			Description: "seeded",
			Runtimes:    []string{"provided.al2023"},
			Archs:       []string{"x86_64"},
		})
	}
}

// callsOf returns the recorded calls of one operation, in order.
func (f *fakeAWS) callsOf(op string) []awsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []awsCall
	for _, c := range f.calls {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// versions returns the version numbers layer still has.
func (f *fakeAWS) versions(layer string) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, v := range f.layers[layer] {
		out = append(out, v.Version)
	}
	return out
}

func layerARN(layer string) string {
	return "arn:aws:lambda:" + fakeRegion + ":" + fakeAccount + ":layer:" + layer
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	// The AWS CLI signs every request; a missing or foreign key means the
	// credentials in the test's files were not used.
	if !strings.Contains(r.Header.Get("Authorization"), "Credential="+fakeKeyID+"/") {
		f.denied(w, r)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == "/" {
		f.sts(w, r)
		return
	}
	// /2018-10-31/layers/{name}/versions[/{n}]
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) >= 4 && parts[0] == "2018-10-31" && parts[1] == "layers" && parts[3] == "versions" {
		layer, err := url.PathUnescape(parts[2])
		if err == nil {
			switch {
			case len(parts) == 4 && r.Method == http.MethodPost:
				f.publish(w, r, layer)
				return
			case len(parts) == 4 && r.Method == http.MethodGet:
				f.list(w, layer)
				return
			case len(parts) == 5 && r.Method == http.MethodDelete:
				if n, err := strconv.Atoi(parts[4]); err == nil {
					f.delete(w, layer, n)
					return
				}
			}
		}
	}
	f.mu.Lock()
	f.unexpected = append(f.unexpected, r.Method+" "+r.URL.String())
	f.mu.Unlock()
	http.Error(w, `{"message":"not implemented by the fake"}`, http.StatusNotImplemented)
}

// denied answers like AWS does for an unknown access key, in the protocol of
// the service that was called.
func (f *fakeAWS) denied(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", "UnrecognizedClientException")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, `{"message":"The security token included in the request is invalid."}`)
}

// sts serves GetCallerIdentity in the query protocol (form in, XML out),
// which is what both CLI versions send today, and in the JSON protocol
// (X-Amz-Target) in case a newer CLI switches STS over.
func (f *fakeAWS) sts(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetCallerIdentity") {
		f.mu.Lock()
		f.calls = append(f.calls, awsCall{Op: "GetCallerIdentity"})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		fmt.Fprintf(w, `{"Arn":"arn:aws:iam::%[1]s:user/layertest","UserId":"AIDALAYERTEST","Account":"%[1]s"}`, fakeAccount)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "GetCallerIdentity" {
		f.mu.Lock()
		f.unexpected = append(f.unexpected, "STS "+r.PostForm.Encode())
		f.mu.Unlock()
		http.Error(w, "bad STS request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, awsCall{Op: "GetCallerIdentity"})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::%[1]s:user/layertest</Arn>
    <UserId>AIDALAYERTEST</UserId>
    <Account>%[1]s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`, fakeAccount)
}

// versionJSON is the LayerVersionsListItem / PublishLayerVersion shape.
func versionJSON(layer string, v layerVersion) map[string]any {
	return map[string]any{
		"LayerVersionArn":         layerARN(layer) + ":" + strconv.Itoa(v.Version),
		"Version":                 v.Version,
		"Description":             v.Description,
		"CreatedDate":             "2025-01-01T00:00:00.000+0000",
		"CompatibleRuntimes":      v.Runtimes,
		"CompatibleArchitectures": v.Archs,
	}
}

func (f *fakeAWS) publish(w http.ResponseWriter, r *http.Request, layer string) {
	var req struct {
		Content struct {
			ZipFile string
		}
		CompatibleRuntimes      []string
		CompatibleArchitectures []string
		Description             string
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 100<<20)) // Lambda's own limit is 50 MB of zip
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	var zip []byte
	if err == nil {
		zip, err = base64.StdEncoding.DecodeString(req.Content.ZipFile)
	}
	if err != nil {
		f.mu.Lock()
		f.unexpected = append(f.unexpected, "PublishLayerVersion body: "+err.Error())
		f.mu.Unlock()
		http.Error(w, `{"message":"bad body"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.next[layer]++
	v := layerVersion{
		Version:     f.next[layer],
		Description: req.Description,
		Runtimes:    req.CompatibleRuntimes,
		Archs:       req.CompatibleArchitectures,
		Zip:         zip,
	}
	f.layers[layer] = append(f.layers[layer], v)
	f.calls = append(f.calls, awsCall{
		Op: "PublishLayerVersion", Layer: layer, Version: v.Version,
		Runtimes: v.Runtimes, Archs: v.Archs, Description: v.Description, Zip: zip,
	})
	f.mu.Unlock()

	resp := versionJSON(layer, v)
	resp["LayerArn"] = layerARN(layer)
	resp["Content"] = map[string]any{"Location": "https://example.invalid/layer.zip", "CodeSize": len(zip), "CodeSha256": "fake"}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(resp)
}

func (f *fakeAWS) list(w http.ResponseWriter, layer string) {
	f.mu.Lock()
	f.calls = append(f.calls, awsCall{Op: "ListLayerVersions", Layer: layer})
	items := []map[string]any{}
	// Lambda lists the newest version first.
	vs := f.layers[layer]
	for i := len(vs) - 1; i >= 0; i-- {
		items = append(items, versionJSON(layer, vs[i]))
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"LayerVersions": items})
}

func (f *fakeAWS) delete(w http.ResponseWriter, layer string, n int) {
	f.mu.Lock()
	f.calls = append(f.calls, awsCall{Op: "DeleteLayerVersion", Layer: layer, Version: n})
	vs := f.layers[layer]
	for i, v := range vs {
		if v.Version == n {
			f.layers[layer] = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	f.mu.Unlock()
	// Lambda answers 204 whether or not the version existed.
	w.WriteHeader(http.StatusNoContent)
}
