# BINARY must equal serverless.yml's handler; BUILD is its src.
BINARY := main
BUILD  := build
EVENT  ?= scripts/events/function_url.json
LOCAL  := go run ./scripts/local
# nethttpomithttp2: WeChat Pay and Tencent Cloud answer HTTP/1.1, and the
# client's HTTP/2 is 0.4 MB of binary and resident memory.
GOTAGS  := nethttpomithttp2
GOBUILD := CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -tags $(GOTAGS) -ldflags "-s -w"

.PHONY: build package test bench fuzz demo invoke serve sim coldstart billperf perf loadcheck deploy clean

build:
	$(GOBUILD) -o $(BUILD)/$(BINARY) ./function

package: build
	$(LOCAL) package -binary $(BUILD)/$(BINARY) -out $(BUILD)/wxpay.zip

test:
	test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	go vet ./...
	go test -race ./...

bench:
	go test -run '^$$' -bench . -benchmem ./...

# Each fuzz target for a number of executions (FUZZTIME=2000000x for longer).
# Counts, not durations: Go 1.26's fuzzer can fail a duration run with a
# spurious "context deadline exceeded" as its time runs out (go.dev/issue/75804).
FUZZTIME ?= 200000x
fuzz:
	go test -run '^$$' -fuzz '^FuzzDecodeXML$$' -fuzztime $(FUZZTIME) ./pkg/wxpay
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/httpevent
	go test -run '^$$' -fuzz '^FuzzParseTotalFee$$' -fuzztime $(FUZZTIME) ./pkg/payinput
	go test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./pkg/bill

# make demo V=v3 runs it for a merchant with only API v3 public-key credentials.
demo: build
	$(LOCAL) demo -binary $(BUILD)/$(BINARY) $(if $(filter v3,$(V)),-v3)

invoke: build
	$(LOCAL) invoke -binary $(BUILD)/$(BINARY) -event $(EVENT) -sim $(if $(filter v3,$(V)),-v3)

serve: build
	$(LOCAL) serve -binary $(BUILD)/$(BINARY) $(if $(REAL),,-sim) $(if $(filter v3,$(V)),-v3)

sim:
	$(LOCAL) sim

coldstart: build
	$(LOCAL) coldstart -binary $(BUILD)/$(BINARY)

# A day's reconciliation of a 100,000-row bill through the binary: wall
# time, rows/s and the binary's peak resident memory (V=v3 on API v3).
billperf: build
	$(LOCAL) billperf -binary $(BUILD)/$(BINARY) $(if $(filter v3,$(V)),-v3)

# The binary against a floor function (scripts/perffloor), built alike:
# CPU per call, latency, cold start, memory, WAL and sizes, with ratios.
perf: build
	$(GOBUILD) -o $(BUILD)/perffloor ./scripts/perffloor
	$(LOCAL) perf -binary $(BUILD)/$(BINARY) -floor $(BUILD)/perffloor

# 20,000 mixed invocations of one warm instance: latency per 2,000, and
# memory, open files and threads at the start and the end.
loadcheck: build
	$(LOCAL) loadcheck -binary $(BUILD)/$(BINARY)

deploy: build
	npx --yes --package serverless-cloud-framework scf deploy

clean:
	rm -rf $(BUILD)
