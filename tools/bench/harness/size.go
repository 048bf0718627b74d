// size.go owns the size section: stripped binaries and layer zips of the
// extension next to the size floor (tools/floor/nethttp) built and zipped
// the same way, and the UPX variant when run.sh could build it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// sizeSlack is the size target: at most this much over the floor. The
// floor already holds net/http, TLS and the runtime; everything the
// extension does beyond that must fit in half a megabyte.
const sizeSlack = 512 << 10

func cmdSize(args []string) error {
	var c common
	fs := flag.NewFlagSet("size", flag.ContinueOnError)
	c.register(fs)
	dir := fs.String("dir", "", "folder with {ours,floor,ours-upx}-{amd64,arm64} binaries and .zip files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	size := func(name string) (float64, bool) {
		st, err := os.Stat(filepath.Join(*dir, name))
		if err != nil {
			return 0, false
		}
		return float64(st.Size()), true
	}
	o := &output{c: &c}
	o.p("## 1. Size")
	o.p("")
	o.p("Stripped static binaries (`-trimpath -ldflags '-s -w -buildid='`, CGO off) and layer zips, ours built by `./build.sh`, the floor (`tools/floor/nethttp`: net/http client and server with TLS, nothing else) built and zipped the same way. Target: ours ≤ floor + 0.5 MB.")
	o.p("")
	o.p("| arch | artifact | ours | floor | ours − floor | target | verdict |")
	o.p("|---|---|---|---|---|---|---|")
	for _, arch := range []string{"amd64", "arm64"} {
		for _, kind := range []string{"binary", "zip"} {
			suffix := ""
			if kind == "zip" {
				suffix = ".zip"
			}
			ours, ok1 := size("ours-" + arch + suffix)
			floor, ok2 := size("floor-" + arch + suffix)
			if !ok1 || !ok2 {
				o.p("| %s | %s | missing | missing | | | |", arch, kind)
				o.na("size", arch+" "+kind+" ≤ floor + 0.5 MB", "not built")
				continue
			}
			pass := ours <= floor+sizeSlack
			v := verdict(pass)
			o.p("| %s | %s | %s (%.0f B) | %s (%.0f B) | %+.2f MB | ≤ +0.50 MB | %s |", arch, kind, mb(ours), ours, mb(floor), floor, (ours-floor)/(1<<20), v)
			o.target("size", fmt.Sprintf("%s %s ≤ floor + 0.5 MB", arch, kind), fmt.Sprintf("%s vs floor %s (%+.2f MB)", mb(ours), mb(floor), (ours-floor)/(1<<20)), pass)
		}
	}
	o.p("")
	var upx bool
	for _, arch := range []string{"amd64", "arm64"} {
		if _, ok := size("ours-upx-" + arch); ok {
			upx = true
		}
	}
	if !upx {
		o.p("UPX: `upx` is not installed on this machine, so the UPX variant was not measured (`apt-get install upx-ucl`, then rerun).")
		o.p("")
		return o.write()
	}
	o.p("UPX (`upx --best --lzma`, as `UPX=1 ./build.sh` does): what it saves; its cold-start and RSS cost are in sections 2 and 5.")
	o.p("")
	o.p("| arch | binary | binary (UPX) | saved | zip | zip (UPX) | saved |")
	o.p("|---|---|---|---|---|---|---|")
	for _, arch := range []string{"amd64", "arm64"} {
		b, _ := size("ours-" + arch)
		bu, ok := size("ours-upx-" + arch)
		z, _ := size("ours-" + arch + ".zip")
		zu, _ := size("ours-upx-" + arch + ".zip")
		if !ok {
			o.p("| %s | %s | not built | | | | |", arch, mb(b))
			continue
		}
		o.p("| %s | %s | %s | %s (%.0f%%) | %s | %s | %s (%.0f%%) |", arch, mb(b), mb(bu), mb(b-bu), 100*(b-bu)/b, mb(z), mb(zu), mb(z-zu), 100*(z-zu)/max(z, 1))
	}
	o.p("")
	return o.write()
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "MISS"
}
