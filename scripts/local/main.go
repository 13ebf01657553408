// Command local runs the built function on this machine the way SCF does,
// against a simulated WeChat Pay or the real one.
//
//	go run ./scripts/local demo      -binary build/main
//	go run ./scripts/local invoke    -binary build/main -event scripts/events/function_url.json [-sim]
//	go run ./scripts/local serve     -binary build/main -addr 127.0.0.1:9000 [-sim]
//	go run ./scripts/local sim       -addr 127.0.0.1:9100
//	go run ./scripts/local coldstart -binary build/main -n 30
//	go run ./scripts/local billperf  -binary build/main -rows 100000 [-v3]
//	go run ./scripts/local package   -binary build/main -out build/wxpay.zip
//	go run ./scripts/local perf      -binary build/main -floor build/perffloor
//	go run ./scripts/local loadcheck -binary build/main -n 20000
//
// With -sim (always for demo and billperf) the function gets a fresh test
// merchant whose key and AppSecret are generated for this run, and talks to
// an in-process simulator; {{code}} and {{openid}} in an event are replaced
// with a fresh wx.login code and its user. Without -sim the function gets
// this shell's environment, so WXPAY_* must be set.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmds := map[string]func([]string) error{
		"demo": demo, "invoke": invoke, "serve": serve, "sim": runSim, "coldstart": coldStart, "billperf": billPerf, "package": pack,
		"perf": perf, "loadcheck": loadCheck,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		usage()
	}
	if err := cmd(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: local demo|invoke|serve|sim|coldstart|billperf|package|perf|loadcheck [flags]; -h after a command lists its flags")
	os.Exit(2)
}
