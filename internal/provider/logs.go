package provider

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openfaas/faas-provider/logs"

	"github.com/caliopen/functions/internal/gateway"
)

// maxLogBytes is the size past which a function's log file is moved to
// <name>.log.1 (replacing the previous one) and started anew.
const maxLogBytes = 16 << 20

// followBuffer is how many lines a follower may lag before lines are
// dropped for it.
const followBuffer = 1024

// logStore keeps each function's lines as faas-provider's log messages,
// one JSON object a line, in logs/<name>.log, and passes new lines to
// followers.
type logStore struct {
	dir string

	mu        sync.Mutex
	files     map[string]*logFile
	followers map[string]map[chan logs.Message]struct{}
	closed    bool
}

type logFile struct {
	f    *os.File
	size int64
}

func newLogStore(dir string) *logStore {
	return &logStore{dir: dir, files: map[string]*logFile{}, followers: map[string]map[chan logs.Message]struct{}{}}
}

func (s *logStore) path(fn string) string { return filepath.Join(s.dir, fn+".log") }

// append records one line of a replica's output.
func (s *logStore) append(fn, instance string, line []byte) {
	m := logs.Message{Name: fn, Namespace: Namespace, Instance: instance, Timestamp: time.Now().UTC(), Text: string(line)}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	lf, err := s.open(fn)
	if err == nil {
		if _, err := lf.f.Write(b); err == nil {
			lf.size += int64(len(b))
		}
	}
	for ch := range s.followers[fn] {
		select {
		case ch <- m:
		default:
		}
	}
}

// open returns fn's log file, rotated when full; s.mu is held.
func (s *logStore) open(fn string) (*logFile, error) {
	lf := s.files[fn]
	if lf != nil && lf.size < maxLogBytes {
		return lf, nil
	}
	if lf != nil {
		lf.f.Close()
		delete(s.files, fn)
		if err := os.Rename(s.path(fn), s.path(fn)+".1"); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(s.path(fn), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	lf = &logFile{f: f, size: st.Size()}
	s.files[fn] = lf
	return lf, nil
}

// Query implements logs.Requester: the function's lines since r.Since, the
// last r.Tail of them when r.Tail > 0, then new ones while r.Follow and ctx
// last.
func (s *logStore) Query(ctx context.Context, r logs.Request) (<-chan logs.Message, error) {
	if !gateway.ValidName(r.Name) {
		return nil, fmt.Errorf("logs: function name %q is not valid", r.Name)
	}
	if r.Namespace != "" && r.Namespace != Namespace {
		return nil, fmt.Errorf("logs: namespace %q is not valid", r.Namespace)
	}
	var follow chan logs.Message
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("logs: provider is shutting down")
	}
	// Read and subscribe under the lock: no line is missed or repeated.
	history, err := s.read(r)
	if err == nil && r.Follow {
		follow = make(chan logs.Message, followBuffer)
		if s.followers[r.Name] == nil {
			s.followers[r.Name] = map[chan logs.Message]struct{}{}
		}
		s.followers[r.Name][follow] = struct{}{}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := make(chan logs.Message)
	go func() {
		defer close(out)
		if follow != nil {
			defer s.unfollow(r.Name, follow)
		}
		for _, m := range history {
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
		for follow != nil {
			select {
			case m, ok := <-follow:
				if !ok {
					return
				}
				if r.Instance != "" && m.Instance != r.Instance {
					continue
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// read returns the logged lines r asks for; s.mu is held.
func (s *logStore) read(r logs.Request) ([]logs.Message, error) {
	f, err := os.Open(s.path(r.Name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", r.Name, err)
	}
	defer f.Close()
	var out []logs.Message
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 2*maxLine)
	for sc.Scan() {
		var m logs.Message
		if json.Unmarshal(bytes.TrimSpace(sc.Bytes()), &m) != nil {
			continue
		}
		if r.Since != nil && m.Timestamp.Before(*r.Since) || r.Instance != "" && m.Instance != r.Instance {
			continue
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("logs of %s: %w", r.Name, err)
	}
	if r.Tail > 0 && len(out) > r.Tail {
		out = out[len(out)-r.Tail:]
	}
	return out, nil
}

func (s *logStore) unfollow(fn string, ch chan logs.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.followers[fn], ch)
}

// close ends every follower's stream and closes the files.
func (s *logStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for fn, set := range s.followers {
		for ch := range set {
			close(ch)
		}
		delete(s.followers, fn)
	}
	for fn, lf := range s.files {
		lf.f.Close()
		delete(s.files, fn)
	}
}
