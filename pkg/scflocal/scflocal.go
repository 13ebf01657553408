// Package scflocal runs a built SCF Go function the way the platform does:
// it starts the binary with _LAMBDA_SERVER_PORT set, waits for the net/rpc
// Function.Ping to answer, and calls Function.Invoke with a deadline. No
// Docker and no emulator: what answers is the real binary.
package scflocal

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"
)

// Process is a running function binary.
type Process struct {
	cmd    *exec.Cmd
	client *rpc.Client
	addr   string
	exited chan error // receives cmd.Wait's result once
	// Started is how long the binary took from exec to its first answered Ping.
	Started time.Duration
}

// Start execs binary with env (added to this process's environment), its
// output going to out, and returns once Function.Ping answers or ctx ends.
func Start(ctx context.Context, binary string, env []string, out io.Writer) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(binary)
	cmd.Env = append(append(os.Environ(), env...), "_LAMBDA_SERVER_PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = out, out
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	p := &Process{cmd: cmd, addr: addr, exited: exited}
	go func() { exited <- cmd.Wait() }()
	for {
		if c, err := rpc.Dial("tcp", addr); err == nil {
			if err := c.Call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err == nil {
				p.client, p.Started = c, time.Since(begin)
				return p, nil
			}
			c.Close()
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("scflocal: %s exited before answering Ping: %v", binary, err)
		case <-ctx.Done():
			cmd.Process.Kill()
			return nil, fmt.Errorf("scflocal: %s did not answer Ping: %w", binary, ctx.Err())
		case <-time.After(200 * time.Microsecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Result is one invocation's outcome: a payload, or a function error.
type Result struct {
	Payload []byte
	Error   *messages.InvokeResponse_Error
}

// Invoke sends event with a deadline timeout from now, as the platform does,
// and returns the function's answer.
func (p *Process) Invoke(event []byte, timeout time.Duration, requestID string) (*Result, error) {
	deadline := time.Now().Add(timeout)
	req := &messages.InvokeRequest{
		Payload:         event,
		RequestId:       requestID,
		Deadline:        messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
		FunctionName:    "wxpay",
		FunctionVersion: "$LATEST",
		MemoryLimitInMb: 64,
		TimeLimitInMs:   int32(timeout / time.Millisecond),
	}
	var resp messages.InvokeResponse
	call := p.client.Go("Function.Invoke", req, &resp, nil)
	select {
	case <-call.Done:
		if call.Error != nil {
			return nil, call.Error
		}
	case <-time.After(timeout + time.Second):
		return nil, fmt.Errorf("scflocal: no answer within the %v timeout", timeout)
	}
	return &Result{Payload: resp.Payload, Error: resp.Error}, nil
}

// PID is the binary's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Close stops the binary.
func (p *Process) Close() error {
	p.client.Close()
	return p.cmd.Process.Kill()
}

// Wait waits until the process has exited (after Close, say), so that
// what it held, such as a locked database file, is free.
func (p *Process) Wait() {
	err := <-p.exited
	p.exited <- err // for a later Wait
}
