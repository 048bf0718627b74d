//go:build unix

// build_test.go runs the real build.sh: the layer zip's layout, that two
// builds of one commit are byte-identical, and the UPX variant when upx is
// installed.
package layertest

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// buildTimeout bounds one run of build.sh for one architecture: a cold Go
// build cache on a loaded 2-core machine takes about a minute.
const buildTimeout = 5 * time.Minute

// lambdaArch is Lambda's name for the machine's architecture, "" when
// Lambda has none.
func lambdaArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "arm64"
	}
	return ""
}

// runBuild runs build.sh for this machine's architecture into dist.
func runBuild(t *testing.T, dist string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, repoFile(t, "build.sh"))
	cmd.Env = append(os.Environ(), append([]string{"DIST_DIR=" + dist, "BUILD_TARGETS=" + lambdaArch(), "VERSION=" + testVersion}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	return string(out)
}

// unzipExtension checks the layer's layout and writes its extension binary
// to dir, returning its path.
func unzipExtension(t *testing.T, zipPath, dir string) string {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatalf("open %s: %v", zipPath, err)
	}
	defer zr.Close()
	var names []string
	bin := filepath.Join(dir, "otel-lambda-extension")
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name != "extensions/otel-lambda-extension" {
			continue
		}
		if f.Mode()&0o111 == 0 {
			t.Errorf("%s: extensions/otel-lambda-extension has mode %v; want executable (Lambda starts it as is)", zipPath, f.Mode())
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		if err := os.WriteFile(bin, b.Bytes(), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(names, " "); got != "extensions/otel-lambda-extension otel-instrument" {
		t.Errorf("%s holds %q; want extensions/otel-lambda-extension otel-instrument", zipPath, got)
	}
	return bin
}

func checkVersion(t *testing.T, bin string) {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) {
		t.Errorf("%s --version = %q, %v; want it to name %s", bin, out, err, testVersion)
	}
}

// TestBuildLayer: build.sh's layer zip has the layout Lambda expects, its
// binary runs, and a second build of the same tree is byte-identical.
func TestBuildLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the layer twice")
	}
	if lambdaArch() == "" {
		t.Skipf("GOARCH %s: Lambda has no such architecture", runtime.GOARCH)
	}
	if _, err := exec.LookPath("zip"); err != nil {
		t.Skip("zip not on PATH (apt-get install zip); build.sh needs it")
	}
	a, b := t.TempDir(), t.TempDir()
	runBuild(t, a)
	runBuild(t, b)
	name := "otel-lambda-extension-" + lambdaArch() + ".zip"
	za, err := os.ReadFile(filepath.Join(a, name))
	if err != nil {
		t.Fatal(err)
	}
	zb, err := os.ReadFile(filepath.Join(b, name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(za, zb) {
		t.Errorf("two builds of the same tree gave different zips (%d and %d bytes); want byte-identical", len(za), len(zb))
	}
	checkVersion(t, unzipExtension(t, filepath.Join(a, name), t.TempDir()))
}

// TestBuildUPX: UPX=1 adds a UPX-compressed zip whose binary still runs.
// upx reads its own default options from $UPX, so this also checks that
// build.sh keeps our UPX=1 away from it.
func TestBuildUPX(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the layer")
	}
	if lambdaArch() == "" {
		t.Skipf("GOARCH %s: Lambda has no such architecture", runtime.GOARCH)
	}
	for _, tool := range []string{"zip", "upx"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not on PATH (Debian: apt-get install %s; upx is upx-ucl, in bookworm-backports on bookworm)", tool, map[string]string{"zip": "zip", "upx": "upx-ucl"}[tool])
		}
	}
	dist := t.TempDir()
	out := runBuild(t, dist, "UPX=1")
	plain := filepath.Join(dist, "otel-lambda-extension-"+lambdaArch()+".zip")
	packed := filepath.Join(dist, "otel-lambda-extension-"+lambdaArch()+"-upx.zip")
	sp, err := os.Stat(plain)
	if err != nil {
		t.Fatal(err)
	}
	su, err := os.Stat(packed)
	if err != nil {
		t.Fatalf("UPX=1 made no %s: %v\nbuild.sh said:\n%s", filepath.Base(packed), err, out)
	}
	if su.Size() >= sp.Size() {
		t.Errorf("UPX zip is %d bytes, the plain one %d; want it smaller", su.Size(), sp.Size())
	}
	checkVersion(t, unzipExtension(t, packed, t.TempDir()))
}
