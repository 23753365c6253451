package hostile

import (
	"context"
	"encoding/json"
	"net"
	"sync/atomic"
	"testing"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/system/systemtest"
)

// egressSyncNow orders a sync of remote identity id, as the scheduler
// does (the test system runs no scheduler).
func egressSyncNow(t *testing.T, s *systemtest.System, userID, id string) {
	t.Helper()
	b, _ := json.Marshal(contract.RemoteOrder{Order: contract.OrderSync, RemoteID: id, UserID: userID})
	if err := s.NC.Publish(contract.SubjectIMAPFetcher, b); err != nil {
		t.Fatal(err)
	}
}

// egressSystem starts the local system (in process) with env for the
// test.
func egressSystem(t *testing.T, env map[string]string) *systemtest.System {
	t.Helper()
	s, err := systemtest.Start(context.Background(), systemtest.Options{Dir: t.TempDir(), Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// egressService is a loopback service an attacker would like to probe: it
// greets every connection with banner and counts them.
type egressService struct {
	Addr     string
	accepted atomic.Int32
}

func egressStartService(t *testing.T, banner string) *egressService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	s := &egressService{Addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			_, _ = c.Write([]byte(banner))
			_ = c.Close()
		}
	}()
	return s
}
