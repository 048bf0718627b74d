// Command harness runs the measured parts of `./build.sh bench` (see
// tools/bench/run.sh): it starts the extension under the Lambda emulator
// (internal/lambdasim) against a local OTLP backend (internal/otlpsink),
// measures, and writes one Markdown section plus one line per target to a
// shared targets file that run.sh turns into the summary table.
//
//	harness size       -dir D                       binary and zip sizes
//	harness coldstart  -ext name=path ... -n 30     process start → first next
//	harness invoke     -ext path -strategy s ...    post-runtime time per strategy
//	harness throughput -ext path -load otlpload     spans/s and CPU per span
//	harness memory     -ext path -load otlpload     RSS with the buffer full
//
// Every process it starts (extensions, the collector, otlpload) is killed
// and reaped before it exits, also on an error; it binds 127.0.0.1 only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"otel-lambda-extension/internal/lambdasim"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: harness size|coldstart|invoke|throughput|memory [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"size":       cmdSize,
		"coldstart":  cmdColdstart,
		"invoke":     cmdInvoke,
		"throughput": cmdThroughput,
		"memory":     cmdMemory,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "harness: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	err := f(os.Args[2:])
	for _, d := range scratchDirs {
		os.RemoveAll(d)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// scratchDirs are removed when the command ends.
var scratchDirs []string

// common are the flags every measuring command takes.
type common struct {
	md        string // Markdown section written here
	targets   string // one tab-separated line per target appended here
	reproduce string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.md, "md", "", "write the Markdown section to this file (default stdout)")
	fs.StringVar(&c.targets, "targets", "", "append target lines (section, target, measured, verdict) to this file")
	fs.StringVar(&c.reproduce, "reproduce", "", "the command line that reproduces this section, shown in the section")
}

// output collects a section and its target lines.
type output struct {
	c       *common
	md      bytes.Buffer
	targets []string
}

func (o *output) p(format string, args ...any) { fmt.Fprintf(&o.md, format+"\n", args...) }

// target records one target of the summary: what was aimed at, what was
// measured, and whether it passed. A target that could not be measured is
// "n/a".
func (o *output) target(section, what, measured string, pass bool) {
	verdict := "MISS"
	if pass {
		verdict = "PASS"
	}
	o.targets = append(o.targets, strings.Join([]string{section, what, measured, verdict}, "\t"))
}

func (o *output) na(section, what, why string) {
	o.targets = append(o.targets, strings.Join([]string{section, what, why, "n/a"}, "\t"))
}

func (o *output) write() error {
	if o.c.reproduce != "" {
		o.p("Reproduce: `%s`", o.c.reproduce)
		o.p("")
	}
	if o.c.md == "" {
		os.Stdout.Write(o.md.Bytes())
	} else if err := os.WriteFile(o.c.md, o.md.Bytes(), 0o644); err != nil {
		return err
	}
	if o.c.targets == "" || len(o.targets) == 0 {
		return nil
	}
	f, err := os.OpenFile(o.c.targets, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(o.targets, "\n") + "\n")
	return errors.Join(err, f.Close())
}

// dist summarises a sample: the machines are shared and noisy, so every
// number is a median with its spread, never a single run.
type dist struct {
	N                       int
	Min, P50, P90, P99, Max float64
}

func summarise(xs []float64) dist {
	if len(xs) == 0 {
		return dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q := func(p float64) float64 {
		// nearest rank
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return dist{N: len(s), Min: s[0], P50: median(s), P90: q(90), P99: q(99), Max: s[len(s)-1]}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// f formats a number with a precision that suits its size.
func f(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func mb(bytes float64) string { return strconv.FormatFloat(bytes/(1<<20), 'f', 2, 64) + " MB" }

// freePort asks the kernel for a free loopback port. Another process may
// take it before the extension binds it; startSim retries on that.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// simOpts is one sandbox: the extension, its environment, and the Sim's
// own settings.
type simOpts struct {
	bin   string
	env   map[string]string
	extra map[string]string // overrides env
	cfg   lambdasim.Config
}

// sandbox is a started Sim with the extension's receiver port.
type sandbox struct {
	sim  *lambdasim.Sim
	name string
	port int
	dir  string // scratch: the handoff and proxy marker files
}

func (sb *sandbox) receiverURL() string { return "http://127.0.0.1:" + strconv.Itoa(sb.port) }
func (sb *sandbox) pid() int            { return sb.sim.PID(sb.name) }

func (sb *sandbox) stderr() string {
	_, e := sb.sim.Output(sb.name)
	return string(e)
}

// startSim starts one sandbox with free receiver ports; a port taken by
// someone else between freePort and the bind costs one retry.
func startSim(o simOpts) (*sandbox, error) {
	name := filepath.Base(o.bin)
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		gport, err := freePort()
		if err != nil {
			return nil, err
		}
		pport, err := freePort()
		if err != nil {
			return nil, err
		}
		// The Runtime API proxy stays on, as by default, but on a free
		// port and with its marker file in a scratch folder instead of the
		// machine-wide /tmp/otel-lambda-extension.
		dir, err := os.MkdirTemp("", "bench-sandbox-")
		if err != nil {
			return nil, err
		}
		scratchDirs = append(scratchDirs, dir)
		env := map[string]string{
			"OTEL_LAMBDA_RECEIVER_PORT":      strconv.Itoa(port),
			"OTEL_LAMBDA_GRPC_PORT":          strconv.Itoa(gport),
			"OTEL_LAMBDA_RUNTIME_PROXY_PORT": strconv.Itoa(pport),
			"OTEL_LAMBDA_HANDOFF_FILE":       filepath.Join(dir, "runtime.env"),
		}
		for k, v := range o.env {
			env[k] = v
		}
		for k, v := range o.extra {
			env[k] = v
		}
		cfg := o.cfg
		cfg.ExtensionPaths = []string{o.bin}
		cfg.Env = env
		// 30 s bounds an extension that never finishes init on a loaded
		// machine; Lambda's own limit (10 s) is enforced by the Sim.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sim, err := lambdasim.Start(ctx, cfg)
		cancel()
		if err == nil {
			return &sandbox{sim: sim, name: name, port: port, dir: dir}, nil
		}
		var out string
		if sim != nil {
			_, e := sim.Output(name)
			out = string(e)
			sim.Close()
		}
		if attempt < 3 && strings.Contains(out, "already in use") {
			continue
		}
		return nil, fmt.Errorf("start %s: %w\n%s", o.bin, err, tail(out, 2000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// procStatus reads one "Key: N kB" value of /proc/<pid>/status, in bytes.
func procStatus(pid int, key string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return n * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, key)
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports, and Go cannot ask
// sysconf without cgo.
const clockTick = 100

// cpuSeconds is the user+system CPU time of pid (all its threads) so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces; the fields after ")" are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// utime and stime are fields 14 and 15 of stat; after ")" the first
	// field is 3 (state), so they are at 11 and 12.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseFloat(fields[11], 64)
	st, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (ut + st) / clockTick, nil
}
