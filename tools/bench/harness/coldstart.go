// coldstart.go owns the cold-start section: process start → first
// event/next as lambdasim records it (InitDurations), for the extension and
// the cold-start floor (tools/floor/register) interleaved in one run, RSS
// right after init, GODEBUG=inittrace=1 package-init cost, and the
// extension's own init phase timings from its debug log.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"otel-lambda-extension/internal/lambdasim"
	"otel-lambda-extension/internal/otlpsink"
)

// coldRatio is the cold-start target: the extension's median init at most
// 25 % over the floor's, which only registers and calls next.
const coldRatio = 1.25

// labelled is a repeatable label=path flag.
type labelled [][2]string

func (l *labelled) String() string { return fmt.Sprint(*l) }
func (l *labelled) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("want label=path, got %q", v)
	}
	*l = append(*l, [2]string{name, path})
	return nil
}

// coldResult is what coldstart measured; memory reads it back for the
// idle RSS row.
type coldResult struct {
	InitMs   map[string][]float64 `json:"init_ms"`
	ToReg    map[string][]float64 `json:"to_register_ms"` // process start → register accepted
	RegNext  map[string][]float64 `json:"register_to_next_ms"`
	RSS      map[string][]float64 `json:"rss_bytes"`
	InitSum  map[string][]float64 `json:"inittrace_ms"`
	Phases   map[string][]float64 `json:"phases_ms"`
	TopInits map[string]float64   `json:"top_inits_ms"` // ours, mean per run
}

var (
	initTraceRE = regexp.MustCompile(`^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock`)
	// The extension's debug line. config, listeners and pipeline run while
	// register is in flight; register (its round trip, from main) and
	// subscribe (from register's answer to next) add up to init. pipeline
	// is optional: older builds did not log it.
	phasesRE   = regexp.MustCompile(`init phases: config ([^\s,]+), listeners ([^\s,]+), register ([^\s,]+), subscribe ([^\s,]+)(?:, pipeline ([^\s,]+))?`)
	phaseNames = []string{"config", "listeners", "register", "subscribe", "pipeline"}
)

func cmdColdstart(args []string) error {
	var c common
	var exts labelled
	fs := flag.NewFlagSet("coldstart", flag.ContinueOnError)
	c.register(fs)
	fs.Var(&exts, "ext", "label=path of an extension binary (repeatable; the first is ours)")
	floor := fs.String("floor", "floor", "label of the floor among -ext")
	n := fs.Int("n", 30, "cold starts per binary, interleaved")
	k := fs.Int("k", 10, "extra starts per binary for inittrace, and of ours at debug level")
	jsonOut := fs.String("json", "", "write the raw samples here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(exts) < 2 {
		return fmt.Errorf("want at least two -ext (ours and the floor)")
	}
	ours := exts[0][0]
	sink, err := otlpsink.New(otlpsink.Options{CountOnly: true})
	if err != nil {
		return err
	}
	defer sink.Close()
	baseEnv := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL()}

	res := coldResult{InitMs: map[string][]float64{}, ToReg: map[string][]float64{}, RegNext: map[string][]float64{}, RSS: map[string][]float64{}, InitSum: map[string][]float64{}, Phases: map[string][]float64{}, TopInits: map[string]float64{}}
	once := func(path string, extra map[string]string) (*sandbox, time.Duration, float64, error) {
		env := map[string]string{}
		for k, v := range baseEnv {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		sb, err := startSim(simOpts{bin: path, env: env})
		if err != nil {
			return nil, 0, 0, err
		}
		d, ok := sb.sim.InitDurations()[sb.name]
		if !ok {
			sb.sim.Close()
			return nil, 0, 0, fmt.Errorf("%s: no init duration recorded", path)
		}
		rss, err := procStatus(sb.pid(), "VmRSS")
		if err != nil {
			sb.sim.Close()
			return nil, 0, 0, err
		}
		return sb, d, rss, nil
	}
	// Interleaved, and the order rotated every round, so that drift in the
	// machine's load hits every binary alike.
	for i := range *n {
		for j := range exts {
			e := exts[(i+j)%len(exts)]
			sb, d, rss, err := once(e[1], nil)
			if err != nil {
				return err
			}
			var start, reg, next time.Duration
			for _, r := range sb.sim.Timeline() {
				switch {
				case r.Kind == lambdasim.KindProcessStart:
					start = r.At
				case r.Kind == lambdasim.KindRegister && reg == 0:
					reg = r.At
				case r.Kind == lambdasim.KindInitNext && next == 0:
					next = r.At
				}
			}
			sb.sim.Close()
			res.ToReg[e[0]] = append(res.ToReg[e[0]], ms(reg-start))
			res.RegNext[e[0]] = append(res.RegNext[e[0]], ms(next-reg))
			res.InitMs[e[0]] = append(res.InitMs[e[0]], ms(d))
			res.RSS[e[0]] = append(res.RSS[e[0]], rss)
		}
	}
	tops := map[string]float64{}
	for i := range *k {
		for j := range exts {
			e := exts[(i+j)%len(exts)]
			sb, _, _, err := once(e[1], map[string]string{"GODEBUG": "inittrace=1"})
			if err != nil {
				return err
			}
			// Close first: it reaps the process, and the emulator's output
			// capture has everything once it has.
			sb.sim.Close()
			sum := 0.0
			for line := range strings.SplitSeq(sb.stderr(), "\n") {
				m := initTraceRE.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				v, _ := strconv.ParseFloat(m[2], 64)
				sum += v
				if e[0] == ours {
					tops[m[1]] += v / float64(*k)
				}
			}
			res.InitSum[e[0]] = append(res.InitSum[e[0]], sum)
		}
		sb, _, _, err := once(exts[0][1], map[string]string{"OTEL_LAMBDA_LOG_LEVEL": "debug"})
		if err != nil {
			return err
		}
		sb.sim.Close()
		m := phasesRE.FindStringSubmatch(sb.stderr())
		if m == nil {
			return fmt.Errorf("%s at debug level logged no \"init phases\" line", ours)
		}
		for i, name := range phaseNames {
			if m[i+1] == "" {
				continue
			}
			d, err := time.ParseDuration(m[i+1])
			if err != nil {
				return fmt.Errorf("init phases: %s %q: %w", name, m[i+1], err)
			}
			res.Phases[name] = append(res.Phases[name], ms(d))
		}
	}
	type kv struct {
		k string
		v float64
	}
	var topList []kv
	for k, v := range tops {
		topList = append(topList, kv{k, v})
	}
	sort.Slice(topList, func(i, j int) bool { return topList[i].v > topList[j].v })
	for i, t := range topList {
		if i == 8 {
			break
		}
		res.TopInits[t.k] = t.v
	}

	o := &output{c: &c}
	o.p("## 2. Cold start")
	o.p("")
	o.p("Process start → first `event/next`, as the emulator records it (`lambdasim.Sim.InitDurations`): the extension's share of Lambda's Init phase. %d cold starts per binary, interleaved with the floor (`tools/floor/register`: registers and calls next, nothing else) in one run, the order rotated every round. Each start is a fresh sandbox and process; the binary is in the page cache (a warm host, as on Lambda after the first sandbox). Times in ms.", *n)
	o.p("")
	o.p("| binary | median | min | p90 | max | ratio to floor (median) | target | verdict |")
	o.p("|---|---|---|---|---|---|---|---|")
	floorMed := summarise(res.InitMs[*floor]).P50
	for _, e := range exts {
		d := summarise(res.InitMs[e[0]])
		ratio := d.P50 / floorMed
		tgt, v := "", ""
		if e[0] == ours {
			tgt, v = fmt.Sprintf("≤ %.2f", coldRatio), verdict(ratio <= coldRatio)
			o.target("cold start", fmt.Sprintf("init ratio to floor ≤ %.2f", coldRatio),
				fmt.Sprintf("%.2f (%s ms vs %s ms, medians of %d)", ratio, f(d.P50), f(floorMed), d.N), ratio <= coldRatio)
		}
		o.p("| %s | %s | %s | %s | %s | %.2f | %s | %s |", e[0], f(d.P50), f(d.Min), f(d.P90), f(d.Max), ratio, tgt, v)
	}
	o.p("")
	o.p("Where it goes, from the emulator's timeline (medians, ms): process start → `register` accepted (exec, runtime and package init, and for ours config and listener binding), then `register` → first `next` (for ours the Telemetry API subscription).")
	o.p("")
	o.p("| binary | start → register | register → next |")
	o.p("|---|---|---|")
	for _, e := range exts {
		o.p("| %s | %s | %s |", e[0], f(summarise(res.ToReg[e[0]]).P50), f(summarise(res.RegNext[e[0]]).P50))
	}
	o.p("")
	o.p("Package init (`GODEBUG=inittrace=1`, sum of the `ms clock` of every package's init), %d starts per binary, ms:", *k)
	o.p("")
	o.p("| binary | median | min | max |")
	o.p("|---|---|---|---|")
	for _, e := range exts {
		d := summarise(res.InitSum[e[0]])
		o.p("| %s | %s | %s | %s |", e[0], f(d.P50), f(d.Min), f(d.Max))
	}
	o.p("")
	o.p("Costliest package inits of %s (mean ms per start): %s.", ours, func() string {
		var parts []string
		for i, t := range topList {
			if i == 8 {
				break
			}
			parts = append(parts, fmt.Sprintf("`%s` %s", t.k, f(t.v)))
		}
		return strings.Join(parts, ", ")
	}())
	o.p("")
	o.p("The extension's own init phases (its `init phases:` line at `OTEL_LAMBDA_LOG_LEVEL=debug`, %d starts), ms. Register is sent first and config, listeners and pipeline are built while it is in flight, so they are part of its round trip, not added to it; register (from main to its answer) and subscribe (from there to next) add up to init from main.", *k)
	o.p("")
	o.p("| phase | median | min | max |")
	o.p("|---|---|---|---|")
	total := make([]float64, len(res.Phases["register"]))
	for _, name := range phaseNames {
		if len(res.Phases[name]) == 0 {
			continue
		}
		d := summarise(res.Phases[name])
		if name == "register" || name == "subscribe" {
			for i, v := range res.Phases[name] {
				total[i] += v
			}
		}
		o.p("| %s | %s | %s | %s |", name, f(d.P50), f(d.Min), f(d.Max))
	}
	d := summarise(total)
	o.p("| register + subscribe (from main) | %s | %s | %s |", f(d.P50), f(d.Min), f(d.Max))
	o.p("")
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return o.write()
}
