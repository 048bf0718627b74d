package main

import (
	"testing"
	"time"
)

func TestSchedulerPlans(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name     string
		strategy flushStrategy
		gap      time.Duration // between invocations
		n        int           // invocations
		exportAt []int         // invocations after which an export is recorded
		pressure bool
		want     []flushPlan // plans of the last len(want) invocations
	}{
		{name: "end always holds", strategy: flushStrategy{Mode: flushEnd}, gap: time.Second, n: 3,
			want: []flushPlan{planEnd, planEnd, planEnd}},
		{name: "periodically skips until due", strategy: flushStrategy{Mode: flushPeriodically, Interval: 2500 * time.Millisecond},
			gap: time.Second, n: 5, exportAt: []int{0, 3},
			// 0: first, nothing exported yet → end (export recorded);
			// 1: 1s since → skip; 2: 2s → skip; 3: 3s → end (export); 4: 1s → skip
			want: []flushPlan{planEnd, planSkip, planSkip, planEnd, planSkip}},
		{name: "end with interval under pressure holds", strategy: flushStrategy{Mode: flushEnd, Interval: time.Hour},
			gap: time.Second, n: 2, exportAt: []int{0}, pressure: true, want: []flushPlan{planEnd, planEnd}},
		{name: "continuously never holds", strategy: flushStrategy{Mode: flushContinuously, Interval: time.Second},
			gap: time.Second, n: 2, want: []flushPlan{planSkip, planSkip}},
		{name: "adaptive warms up as end", strategy: flushStrategy{Mode: flushAdaptive}, gap: 100 * time.Millisecond, n: adaptiveWarmup,
			want: []flushPlan{planEnd, planEnd}},
		{name: "adaptive frequent goes async", strategy: flushStrategy{Mode: flushAdaptive}, gap: 100 * time.Millisecond, n: adaptiveWarmup + 3,
			want: []flushPlan{planEnd, planAsync, planAsync, planAsync}},
		{name: "adaptive infrequent stays end", strategy: flushStrategy{Mode: flushAdaptive}, gap: 10 * time.Second, n: adaptiveWarmup + 3,
			want: []flushPlan{planEnd, planEnd, planEnd}},
		{name: "adaptive under pressure holds", strategy: flushStrategy{Mode: flushAdaptive}, gap: 100 * time.Millisecond, n: adaptiveWarmup + 2,
			pressure: true, want: []flushPlan{planEnd, planEnd}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := scheduler{strategy: tc.strategy}
			var got []flushPlan
			for i := range tc.n {
				now := base.Add(time.Duration(i) * tc.gap)
				p := s.plan(now, tc.pressure)
				got = append(got, p)
				for _, e := range tc.exportAt {
					if e == i {
						s.exported(now)
					}
				}
			}
			got = got[len(got)-len(tc.want):]
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("plans %v; want %v", got, tc.want)
				}
			}
		})
	}
}

// After a long pause, one invocation holds for an end flush even when the
// function is otherwise frequent: the data left before the pause already
// waited, and the next pause may be as long.
func TestSchedulerPauseFallsBackToEnd(t *testing.T) {
	s := scheduler{strategy: flushStrategy{Mode: flushAdaptive}}
	now := time.Unix(1_700_000_000, 0)
	for range adaptiveWarmup + 5 {
		now = now.Add(200 * time.Millisecond)
		s.plan(now, false)
	}
	if p := s.plan(now.Add(2*adaptivePause), false); p != planEnd {
		t.Fatalf("after a pause: %v; want end", p)
	}
	if p := s.plan(now.Add(2*adaptivePause+200*time.Millisecond), false); p != planAsync {
		t.Fatalf("back to frequent: %v; want async", p)
	}
}

func TestMedianGap(t *testing.T) {
	s := scheduler{strategy: flushStrategy{Mode: flushAdaptive}}
	now := time.Unix(1_700_000_000, 0)
	for i := range adaptiveWarmup + 7 {
		d := time.Second
		if i%4 == 0 {
			d = 30 * time.Second // a few long gaps must not move the median
		}
		now = now.Add(d)
		s.plan(now, false)
	}
	if g := s.medianGap(); g != time.Second {
		t.Fatalf("median gap %v; want 1s", g)
	}
}
