//go:build unix

// deploy_test.go runs the real deploy.sh with the real AWS CLI against the
// fake control plane in fakeaws_test.go.
package layertest

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scriptTimeout bounds one run of deploy.sh. Each AWS CLI call starts a
// Python interpreter (~0.5 s, several seconds on a loaded 2-core machine) and
// a run makes up to 6 calls; two minutes is far beyond that and still ends a
// hung test.
const scriptTimeout = 2 * time.Minute

// seedRuntimes is seed 002's --compatible-runtimes list, verbatim.
var seedRuntimes = []string{
	"python3.9", "python3.10", "python3.11", "python3.12", "python3.13",
	"nodejs18.x", "nodejs20.x", "nodejs22.x",
	"java11", "java17", "java21", "dotnet8", "ruby3.3",
	"provided.al2", "provided.al2023",
}

const testVersion = "v9.8.7-layertest"

// repoFile is the absolute path of a file at the repository root.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatalf("abs %s: %v", name, err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	return p
}

// needAWSCLI skips the test when the AWS CLI is not installed; everything
// else about deploy.sh needs it.
func needAWSCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not on PATH (apt-get install awscli or pip install awscli); skipping the deploy.sh tests that need it")
	}
}

// deployEnv is a sandbox for deploy.sh: AWS config and credential files in a
// temp dir, a dist folder with two distinct zips, and the fake's endpoint.
type deployEnv struct {
	fake *fakeAWS
	dist string
	zips map[string][]byte // arch -> zip bytes written
	env  []string
}

// layerZip builds a real zip (the AWS CLI checks that --zip-file is one)
// shaped like the layer, with random content so that a mix-up between the
// two architectures' files is visible.
func layerZip(t *testing.T, arch string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"extensions/otel-lambda-extension", "otel-instrument"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, arch+" "+rand.Text()); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newDeployEnv(t *testing.T) *deployEnv {
	t.Helper()
	dir := t.TempDir()
	d := &deployEnv{fake: newFakeAWS(t), dist: filepath.Join(dir, "dist"), zips: map[string][]byte{}}
	if err := os.Mkdir(d.dist, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		b := layerZip(t, arch)
		d.zips[arch] = b
		if err := os.WriteFile(filepath.Join(d.dist, "otel-lambda-extension-"+arch+".zip"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(dir, "aws-config")
	creds := filepath.Join(dir, "aws-credentials")
	if err := os.WriteFile(config, []byte("[default]\noutput = json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+fakeKeyID+"\naws_secret_access_key = layertestsecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Inherit PATH, HOME and the like (pyenv shims need them), but no AWS_*
	// or deploy.sh settings from the developer's shell.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || slices.Contains([]string{"LAYER_NAME", "DEPLOY_ARCH", "DIST_DIR", "VERSION"}, k) {
			continue
		}
		d.env = append(d.env, kv)
	}
	d.env = append(d.env,
		"AWS_CONFIG_FILE="+config,
		"AWS_SHARED_CREDENTIALS_FILE="+creds,
		"AWS_REGION="+fakeRegion,
		"AWS_ENDPOINT_URL="+d.fake.url(),
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=1", // a fake that fails should fail fast, not be retried
		"DIST_DIR="+d.dist,
		"VERSION="+testVersion,
	)
	return d
}

type scriptResult struct {
	stdout, stderr string
	code           int
}

// runScript runs script with args and env, stdin not a terminal (/dev/null),
// bounded by scriptTimeout. The script and its children get their own process
// group so a timeout kills the AWS CLI too.
func runScript(t *testing.T, env []string, script string, args ...string) scriptResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := scriptResult{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		res.code = exitErr.ExitCode()
	default:
		t.Fatalf("run %s %v: %v (ctx: %v)\nstdout:\n%s\nstderr:\n%s", filepath.Base(script), args, err, ctx.Err(), res.stdout, res.stderr)
	}
	return res
}

func (d *deployEnv) run(t *testing.T, extraEnv []string, args ...string) scriptResult {
	t.Helper()
	return runScript(t, append(slices.Clone(d.env), extraEnv...), repoFile(t, "deploy.sh"), args...)
}

func TestDeployPublishes(t *testing.T) {
	needAWSCLI(t)
	tests := []struct {
		name      string
		env       []string
		wantArchs []string
		wantLayer string // prefix
	}{
		{"both", nil, []string{"x86_64", "arm64"}, "otel-lambda-extension"},
		{"arm64 only", []string{"DEPLOY_ARCH=arm64"}, []string{"arm64"}, "otel-lambda-extension"},
		{"x86_64 only, own name", []string{"DEPLOY_ARCH=x86_64", "LAYER_NAME=my-otel"}, []string{"x86_64"}, "my-otel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployEnv(t)
			res := d.run(t, tt.env)
			if res.code != 0 {
				t.Fatalf("deploy.sh exit %d; want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			if got := len(d.fake.callsOf("GetCallerIdentity")); got != 1 {
				t.Errorf("GetCallerIdentity calls = %d; want 1 (credential check)", got)
			}
			pubs := d.fake.callsOf("PublishLayerVersion")
			if len(pubs) != len(tt.wantArchs) {
				t.Fatalf("publish calls = %d; want %d: %+v", len(pubs), len(tt.wantArchs), pubs)
			}
			for i, arch := range tt.wantArchs {
				p := pubs[i]
				wantName := tt.wantLayer + "-" + arch
				if p.Layer != wantName {
					t.Errorf("layer name = %q; want %q", p.Layer, wantName)
				}
				if !slices.Equal(p.Runtimes, seedRuntimes) {
					t.Errorf("%s runtimes = %v; want %v", arch, p.Runtimes, seedRuntimes)
				}
				if !slices.Equal(p.Archs, []string{arch}) {
					t.Errorf("%s architectures = %v; want [%s]", arch, p.Archs, arch)
				}
				if !strings.Contains(p.Description, testVersion) || !strings.Contains(p.Description, arch) {
					t.Errorf("%s description = %q; want it to name %q and %q", arch, p.Description, testVersion, arch)
				}
				if !bytes.Equal(p.Zip, d.zips[arch]) {
					t.Errorf("%s zip = %d bytes %q...; want the %d bytes of dist/otel-lambda-extension-%s.zip", arch, len(p.Zip), p.Zip[:min(len(p.Zip), 16)], len(d.zips[arch]), arch)
				}
				wantARN := layerARN(wantName) + ":1"
				if !strings.Contains(res.stdout, wantARN) {
					t.Errorf("stdout does not print the new version ARN %s:\n%s", wantARN, res.stdout)
				}
			}
		})
	}
}

func TestDeployList(t *testing.T) {
	needAWSCLI(t)
	d := newDeployEnv(t)
	d.fake.seed("otel-lambda-extension-x86_64", 2)
	res := d.run(t, nil, "list")
	if res.code != 0 {
		t.Fatalf("deploy.sh list exit %d; want 0\nstderr:\n%s", res.code, res.stderr)
	}
	for _, want := range []string{
		"otel-lambda-extension-x86_64",
		layerARN("otel-lambda-extension-x86_64") + ":1",
		layerARN("otel-lambda-extension-x86_64") + ":2",
		"otel-lambda-extension-arm64",
		"(no versions)",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("list output lacks %q:\n%s", want, res.stdout)
		}
	}
	if got := d.fake.callsOf("ListLayerVersions"); len(got) != 2 {
		t.Errorf("list calls = %+v; want one per layer", got)
	}
	if got := d.fake.callsOf("PublishLayerVersion"); len(got) != 0 {
		t.Errorf("list published %d versions; want none", len(got))
	}
}

func TestDeployDeleteYes(t *testing.T) {
	needAWSCLI(t)
	for _, flag := range []string{"--yes", "-y"} {
		t.Run(flag, func(t *testing.T) {
			d := newDeployEnv(t)
			d.fake.seed("otel-lambda-extension-x86_64", 2)
			d.fake.seed("otel-lambda-extension-arm64", 1)
			d.fake.seed("someone-elses-layer", 1)
			res := d.run(t, nil, "delete", flag)
			if res.code != 0 {
				t.Fatalf("deploy.sh delete %s exit %d; want 0\nstdout:\n%s\nstderr:\n%s", flag, res.code, res.stdout, res.stderr)
			}
			if got := len(d.fake.callsOf("DeleteLayerVersion")); got != 3 {
				t.Errorf("delete calls = %d; want 3", got)
			}
			for _, layer := range []string{"otel-lambda-extension-x86_64", "otel-lambda-extension-arm64"} {
				if got := d.fake.versions(layer); len(got) != 0 {
					t.Errorf("%s versions left = %v; want none", layer, got)
				}
			}
			if got := d.fake.versions("someone-elses-layer"); len(got) != 1 {
				t.Errorf("another layer's versions = %v; want it untouched", got)
			}
		})
	}
}

func TestDeployDeleteRefusesWithoutTerminal(t *testing.T) {
	needAWSCLI(t)
	d := newDeployEnv(t)
	d.fake.seed("otel-lambda-extension-x86_64", 2)
	res := d.run(t, nil, "delete") // stdin is /dev/null: no terminal
	if res.code == 0 {
		t.Fatalf("deploy.sh delete without --yes exit 0; want non-zero\nstdout:\n%s", res.stdout)
	}
	if !strings.Contains(res.stderr, "--yes") || !strings.Contains(res.stderr, "no terminal") {
		t.Errorf("stderr = %q; want it to say there is no terminal and to suggest --yes", res.stderr)
	}
	if got := d.fake.callsOf("DeleteLayerVersion"); len(got) != 0 {
		t.Errorf("delete calls = %+v; want none", got)
	}
	if got := d.fake.versions("otel-lambda-extension-x86_64"); len(got) != 2 {
		t.Errorf("versions left = %v; want both", got)
	}
}

func TestDeployMissingZip(t *testing.T) {
	needAWSCLI(t)
	d := newDeployEnv(t)
	missing := filepath.Join(d.dist, "otel-lambda-extension-arm64.zip")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	res := d.run(t, nil)
	if res.code == 0 {
		t.Fatalf("deploy.sh with a missing zip exit 0; want non-zero")
	}
	for _, want := range []string{missing, "./build.sh"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr = %q; want it to name %q", res.stderr, want)
		}
	}
	if strings.Contains(res.stderr, "x86_64.zip") {
		t.Errorf("stderr = %q; want only the missing zip named", res.stderr)
	}
	if got := d.fake.callsOf("PublishLayerVersion"); len(got) != 0 {
		t.Errorf("publish calls = %d; want none (nothing half-deployed)", len(got))
	}
}

func TestDeployBadCredentials(t *testing.T) {
	needAWSCLI(t)
	d := newDeployEnv(t)
	creds := filepath.Join(t.TempDir(), "other-credentials")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = AKIDSOMEONEELSE00000\naws_secret_access_key = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := d.run(t, []string{"AWS_SHARED_CREDENTIALS_FILE=" + creds})
	if res.code == 0 {
		t.Fatalf("deploy.sh with rejected credentials exit 0; want non-zero")
	}
	for _, want := range []string{"credentials", "aws configure"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr = %q; want it to mention %q", res.stderr, want)
		}
	}
	if got := d.fake.callsOf("PublishLayerVersion"); len(got) != 0 {
		t.Errorf("publish calls = %d; want none", len(got))
	}
}

// TestDeployNoCLI runs deploy.sh with a PATH that holds only the tools it
// needs before its first check, and no aws. It needs no AWS CLI itself.
func TestDeployNoCLI(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"dirname"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + bin, "HOME=" + t.TempDir(), "DIST_DIR=" + t.TempDir()}
	for _, args := range [][]string{nil, {"list"}, {"delete", "--yes"}} {
		res := runScript(t, env, repoFile(t, "deploy.sh"), args...)
		if res.code == 0 {
			t.Errorf("deploy.sh %v without aws exit 0; want non-zero", args)
		}
		if !strings.Contains(res.stderr, "AWS CLI (aws) is not installed") || !strings.Contains(res.stderr, "Install it") {
			t.Errorf("deploy.sh %v stderr = %q; want it to say the AWS CLI is missing and how to install it", args, res.stderr)
		}
	}
}

func TestDeployHelpAndBadInput(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH")}
	res := runScript(t, env, repoFile(t, "deploy.sh"), "help")
	if res.code != 0 || !strings.Contains(res.stdout, "DEPLOY_ARCH") || !strings.Contains(res.stdout, "delete") {
		t.Errorf("help: exit %d, stdout %q; want 0 and the usage", res.code, res.stdout)
	}
	tests := []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"bogus"}, "unknown command bogus"},
		{[]string{"DEPLOY_ARCH=mips"}, nil, "DEPLOY_ARCH=mips: want x86_64 or arm64"},
		{nil, []string{"delete", "--force"}, "delete: unknown option --force"},
	}
	for _, tt := range tests {
		res := runScript(t, append(slices.Clone(env), tt.env...), repoFile(t, "deploy.sh"), tt.args...)
		if res.code == 0 {
			t.Errorf("deploy.sh %v with %v exit 0; want non-zero", tt.args, tt.env)
		}
		if !strings.Contains(res.stderr, tt.want) {
			t.Errorf("deploy.sh %v with %v stderr = %q; want %q", tt.args, tt.env, res.stderr, tt.want)
		}
	}
}

// TestDeployDeleteAsksOnTerminal answers deploy.sh's question through a
// pseudo-terminal made by script(1) (util-linux); it is skipped without it.
func TestDeployDeleteAsksOnTerminal(t *testing.T) {
	needAWSCLI(t)
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) not installed; cannot give deploy.sh a terminal")
	}
	tests := []struct {
		answer      string
		wantDeleted int
		wantOut     string
	}{
		{"yes", 3, "Deleted otel-lambda-extension-arm64 version 1"},
		{"no", 0, "Not deleted."},
		{"", 0, "Not deleted."},
	}
	for _, tt := range tests {
		t.Run("answer "+tt.answer, func(t *testing.T) {
			d := newDeployEnv(t)
			d.fake.seed("otel-lambda-extension-x86_64", 2)
			d.fake.seed("otel-lambda-extension-arm64", 1)
			ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
			defer cancel()
			// -e returns the child's exit status; the log goes to /dev/null.
			cmd := exec.CommandContext(ctx, scriptCmd, "-q", "-e", "-c", "'"+repoFile(t, "deploy.sh")+"' delete", "/dev/null")
			cmd.Env = d.env
			cmd.Dir = t.TempDir()
			cmd.Stdin = strings.NewReader(tt.answer + "\n")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("deploy.sh delete on a terminal: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "Type \"yes\" to confirm") || !strings.Contains(string(out), tt.wantOut) {
				t.Errorf("output = %q; want the question and %q", out, tt.wantOut)
			}
			if got := len(d.fake.callsOf("DeleteLayerVersion")); got != tt.wantDeleted {
				t.Errorf("delete calls = %d; want %d", got, tt.wantDeleted)
			}
		})
	}
}
