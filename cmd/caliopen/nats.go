package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/natsconn"
	"github.com/caliopen/functions/internal/natsusers"
)

// The connector's dead-letter stream and subjects, by default; its
// variables STREAM_NAME and DLQ_PREFIX, when set, name them as they do
// for the connector.
const (
	defaultStream    = "CALIOPEN_ORDERS"
	defaultDLQPrefix = "caliopen.dlq"
	maxPayload       = 4 << 10 // of a dead letter's order, shown with -json
)

// connect dials NATS: -nats, CALIOPEN_NATS_URL, NATS_URL or the local
// system's; the NATS_* variables authenticate, else the operator's user
// with its password from the local system's data directory (-data,
// CALIOPEN_DATA_DIR, or make run's). It does not retry.
func (a *app) connect() (*nats.Conn, error) {
	cfg, err := natsconn.LoadConfig(a.getenv, "caliopen-cli")
	if err != nil {
		return nil, err
	}
	if cfg.User == "" && cfg.Token == "" && cfg.NKeySeedFile == "" && cfg.CredsFile == "" {
		dir := cmp.Or(a.dataDir, a.getenv(EnvDataDir), defaultDataDir)
		if cfg.Password, err = natsusers.ReadPassword(dir, natsusers.Operator); err != nil {
			return nil, fmt.Errorf("%w (or set NATS_USER and NATS_PASSWORD)", err)
		}
		cfg.User = natsusers.Operator
		cfg.InboxPrefix = cmp.Or(cfg.InboxPrefix, natsusers.InboxPrefixOf(natsusers.Operator))
	}
	switch {
	case a.natsURL != "":
		cfg.URL = a.natsURL
	case a.getenv(EnvNATSURL) != "":
		cfg.URL = a.getenv(EnvNATSURL)
	case a.getenv("NATS_URL") == "":
		cfg.URL = defaultNATSURL
	}
	opts, err := cfg.Options(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.RetryOnFailedConnect(false), nats.MaxReconnects(0), nats.Timeout(5*time.Second))
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w (is the system running?)", cfg.URL, err)
	}
	return nc, nil
}

func cmdOrder(ctx context.Context, a *app, args []string) error {
	fs := a.flags("order", "SUBJECT JSON [-timeout D]",
		"Sends an order as a NATS request on SUBJECT and prints the reply, as the services of the contract do.\n"+
			"An error reply also prints its code (header "+connector.HeaderServiceErrorCode+") on standard error\n"+
			"and fails. On a publish/subscribe subject the reply is JetStream's acknowledgement.")
	timeout := fs.Duration("timeout", 35*time.Second, "how long to wait for the reply")
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	nc, err := a.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	reply, err := nc.RequestWithContext(ctx, pos[0], []byte(pos[1]))
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("nothing answers on %s", pos[0])
	}
	if err != nil {
		return fmt.Errorf("request on %s: %w", pos[0], err)
	}
	fmt.Fprintln(a.stdout, string(reply.Data))
	if code := reply.Header.Get(connector.HeaderServiceErrorCode); code != "" {
		return fmt.Errorf("error reply, code %s", code)
	}
	return nil
}

// deadLetter is one dead letter, as dlq shows it.
type deadLetter struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Subject  string    `json:"subject"`
	Code     string    `json:"code"`
	Error    string    `json:"error"`
	Status   string    `json:"status,omitempty"`
	Attempts string    `json:"attempts,omitempty"`
	Function string    `json:"function,omitempty"`
	Order    string    `json:"order,omitempty"`
	// Payload is the order as it was published (cut at 4 KiB).
	Payload string `json:"payload"`
}

func cmdDLQ(ctx context.Context, a *app, args []string) error {
	fs := a.flags("dlq", "[-follow [-count N]] [-last N] [-subject SUBJECT]",
		"Shows the dead letters of stream "+defaultStream+"_DLQ (subjects "+defaultDLQPrefix+".>, or as the connector's\n"+
			"STREAM_NAME and DLQ_PREFIX name them) with their reasons, from the connector's headers\n"+
			connector.HeaderErrorCode+", "+connector.HeaderError+", "+connector.HeaderAttempts+" and "+connector.HeaderFunction+".\n"+
			"-follow then prints new ones until interrupted (one JSON object per line with -json).")
	follow := fs.Bool("follow", false, "keep printing new dead letters")
	last := fs.Int("last", 20, "how many of the latest to show first (0: none)")
	subject := fs.String("subject", "", "only the dead letters of this order subject (e.g. keyAction)")
	count := fs.Int("count", 0, "with -follow: stop once this many letters were shown (0: never)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	dlqStream := cmp.Or(a.getenv("STREAM_NAME"), defaultStream) + "_DLQ"
	dlqPrefix := cmp.Or(a.getenv("DLQ_PREFIX"), defaultDLQPrefix)
	if *count < 0 || *last < 0 {
		return fmt.Errorf("%w: dlq: -count and -last cannot be negative", errUsage)
	}
	nc, err := a.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	stream, err := js.Stream(ctx, dlqStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("no stream %s: the connector creates it when it starts", dlqStream)
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", dlqStream, err)
	}
	filter := dlqPrefix + ".>"
	if *subject != "" {
		filter = dlqPrefix + "." + *subject
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return fmt.Errorf("stream %s: %w", dlqStream, err)
	}
	var total uint64
	for _, n := range info.State.Subjects {
		total += n
	}
	// The latest -last letters, then (-follow) the new ones. Without
	// -subject the stream holds only the letters shown, so they start
	// -last sequences before its end; with -subject every letter of that
	// subject is read and the last ones kept.
	// What comes after the stream's last letter now: the letters that
	// arrive between this look and the consumer's start are not missed.
	st := info.State
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: st.LastSeq + 1}
	head := *last > 0 && total > 0 // the latest letters are shown first, as a table
	if head {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverAllPolicy, 0
		if n := uint64(*last); *subject == "" && st.LastSeq >= n && st.LastSeq-n+1 > st.FirstSeq {
			cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, st.LastSeq-n+1
		}
	}
	if !head {
		if err := a.printLetters(nil); err != nil || !*follow {
			return err
		}
	}
	cons, err := stream.OrderedConsumer(ctx, cc)
	if err != nil {
		return fmt.Errorf("read %s: %w", dlqStream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read %s: %w", dlqStream, err)
	}
	msgs, failed := make(chan jetstream.Msg), make(chan error, 1)
	done := make(chan struct{})
	defer func() {
		close(done)
		it.Stop()
	}()
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				failed <- err
				return
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	}()
	var shown []deadLetter
	printed := 0
	// The head ends with the letter that has none pending after it; should
	// letters expire meanwhile, after a quiet moment.
	quiet := time.NewTimer(5 * time.Second)
	defer quiet.Stop()
	for {
		var m jetstream.Msg
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return fmt.Errorf("read %s: %w", dlqStream, err)
		case <-quiet.C:
		case m = <-msgs:
		}
		if m != nil {
			dl := letterOf(m, dlqPrefix)
			if !head {
				if err := a.printLetter(dl); err != nil {
					return err
				}
				if printed++; printed == *count {
					return nil
				}
				continue
			}
			if shown = append(shown, dl); len(shown) > *last {
				shown = shown[1:]
			}
			if md, err := m.Metadata(); err != nil || md.NumPending > 0 {
				quiet.Reset(5 * time.Second)
				continue
			}
		}
		if head {
			if err := a.printLetters(shown); err != nil {
				return err
			}
			head, printed = false, len(shown)
			if !*follow || (*count > 0 && printed >= *count) {
				return nil
			}
		}
	}
}

func letterOf(m jetstream.Msg, dlqPrefix string) deadLetter {
	h := m.Headers()
	dl := deadLetter{Subject: h.Get(connector.HeaderSubject), Code: h.Get(connector.HeaderErrorCode),
		Error: h.Get(connector.HeaderError), Status: h.Get(connector.HeaderStatus), Attempts: h.Get(connector.HeaderAttempts),
		Function: h.Get(connector.HeaderFunction)}
	if dl.Subject == "" {
		dl.Subject = strings.TrimPrefix(m.Subject(), dlqPrefix+".")
	}
	if md, err := m.Metadata(); err == nil {
		dl.Seq, dl.Time = md.Sequence.Stream, md.Timestamp
	}
	var o struct {
		Order string `json:"order"`
	}
	if json.Unmarshal(m.Data(), &o) == nil {
		dl.Order = o.Order
	}
	p := m.Data()
	if len(p) > maxPayload {
		p = p[:maxPayload]
	}
	dl.Payload = string(p)
	return dl
}

func (a *app) printLetters(dls []deadLetter) error {
	if a.json {
		for _, dl := range dls {
			if err := a.printLetter(dl); err != nil {
				return err
			}
		}
		return nil
	}
	rows := make([][]string, len(dls))
	for i, dl := range dls {
		rows[i] = letterRow(dl)
	}
	return table(a.stdout, letterHeader, rows)
}

var letterHeader = []string{"SEQ", "TIME", "SUBJECT", "ORDER", "CODE", "ATTEMPTS", "FUNCTION", "REASON"}

func letterRow(dl deadLetter) []string {
	return []string{strconv.FormatUint(dl.Seq, 10), when(dl.Time), dl.Subject, dl.Order, dl.Code, dl.Attempts, dl.Function, dl.Error}
}

func (a *app) printLetter(dl deadLetter) error {
	if a.json {
		b, err := json.Marshal(dl)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(a.stdout, string(b))
		return err
	}
	_, err := fmt.Fprintln(a.stdout, strings.Join(cells(letterRow(dl)), "  "))
	return err
}
