package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/cpuprof"
)

// TestFakeGateway: a gateway client built on connector-sdk, as the
// nats-connector's is, reads the fake gateway's function list as the
// function on natsConnectorSubject; the function's route answers once set.
func TestFakeGateway(t *testing.T) {
	gw := &fakeGateway{}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	src, err := connector.NewGatewaySource(srv.URL, false, "", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := connector.TopicMap{natsConnectorSubject: {{Name: "contact-action", URL: srv.URL + "/function/contact-action"}}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("topic map %v, want %v", m, want)
	}
	if gw.listed.Load() == 0 {
		t.Error("the listing was not counted")
	}
	post := func() int {
		res, err := http.Post(srv.URL+"/function/contact-action", "application/json", strings.NewReader(event))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(); got != http.StatusNotFound {
		t.Errorf("no function yet: status %d, want 404", got)
	}
	var fn http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	gw.fn.Store(&fn)
	if got := post(); got != http.StatusAccepted {
		t.Errorf("function set: status %d, want its 202", got)
	}
}

// TestProcessCPU reads this process's CPU time from /proc, which grows
// with work done, and nothing for a process that does not exist.
func TestProcessCPU(t *testing.T) {
	before := processCPU(os.Getpid())
	// Busy for 50 ms of CPU, five of /proc's ticks, however loaded the
	// machine is.
	for start := cpuprof.Used(); cpuprof.Used()-start < 50*time.Millisecond; {
	}
	if after := processCPU(os.Getpid()); after <= before {
		t.Errorf("CPU %s after busy work, %s before", after, before)
	}
	if got := processCPU(-1); got != 0 {
		t.Errorf("no process: %s, want 0", got)
	}
}
