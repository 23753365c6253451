package chaos

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"slices"
	"sync"
	"time"
)

// attempt is one try of a request: an SMTP transaction, an API call.
type attempt struct {
	kind       string // mail, send, contact
	start, end time.Time
	ok         bool
	// unanswered: the request was made and no answer came before its
	// deadline (a refused connection is no request).
	unanswered bool
}

// mail is one inbound message, tried on the listeners until one answers
// 250, as an MTA tries its MX hosts.
type mail struct {
	id         string // Message-ID without brackets
	to         string
	start, end time.Time // end: when 250 came
	acked      bool
}

// order is one API call that changes something: a sent draft, a contact.
type order struct {
	kind     string // send, contact, identity
	key      string // the subject of the draft, the contact's given name, the remote account
	to       string // the recipient of a draft (a user's name)
	start    time.Time
	end      time.Time // when it was accepted
	accepted bool
}

// load drives the steady load and records everything.
type load struct {
	smtpAddrs []string
	api       string
	domain    string
	users     []*apiUser
	imap      *dovecot
	db        *sql.DB

	mu       sync.Mutex
	attempts []attempt
	mails    []*mail
	orders   []*order
	remotes  []*remote
	// remoteLive counts the remote identities whose life is not over.
	remoteLive int
	// failures are the load's own failures (a Dovecot append), not the
	// system's: the test reports them.
	failures []string
	seq      int
	wg       sync.WaitGroup
}

// newOrder records an order about to be sent.
func (l *load) newOrder(kind, key string) *order {
	o := &order{kind: kind, key: key, start: time.Now()}
	l.mu.Lock()
	l.orders = append(l.orders, o)
	l.mu.Unlock()
	return o
}

// accept marks o accepted now.
func (l *load) accept(o *order) {
	l.mu.Lock()
	o.accepted, o.end = true, time.Now()
	l.mu.Unlock()
}

func (l *load) fail(format string, args ...any) {
	l.mu.Lock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

type apiUser struct {
	name, token string
}

func (l *load) record(a attempt) {
	l.mu.Lock()
	l.attempts = append(l.attempts, a)
	l.mu.Unlock()
}

func (l *load) next() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return l.seq
}

// run sends mails at mailRate a second and API orders at orderRate a
// second each until ctx ends, then waits for what is in flight.
func (l *load) run(ctx context.Context, mailRate, orderRate float64) {
	pace := func(rate float64, f func(context.Context)) {
		l.wg.Go(func() {
			tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					l.wg.Go(func() { f(context.WithoutCancel(ctx)) })
				}
			}
		})
	}
	pace(mailRate, l.sendMail)
	pace(orderRate, l.sendDraft)
	pace(orderRate, l.createContact)
}

func (l *load) wait() { l.wg.Wait() }

// mailDeadline is how long a mail is retried, as an MTA would for much
// longer; smtpTimeout is an SMTP client's wait for an answer.
const (
	mailDeadline = 90 * time.Second
	smtpTimeout  = 30 * time.Second
)

func (l *load) sendMail(ctx context.Context) {
	n := l.next()
	to := l.users[n%len(l.users)].name + "@" + l.domain
	m := &mail{id: fmt.Sprintf("chaos-%d-%d@chaos.test", time.Now().UnixNano(), n), to: to, start: time.Now()}
	l.mu.Lock()
	l.mails = append(l.mails, m)
	l.mu.Unlock()
	body := fmt.Sprintf("From: <sender@chaos.test>\r\nTo: <%s>\r\nSubject: chaos %d\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\nmail %d under faults\r\n",
		to, n, m.id, time.Now().UTC().Format(time.RFC1123Z), n)
	for i := 0; time.Since(m.start) < mailDeadline; i++ {
		addr := l.smtpAddrs[(n+i)%len(l.smtpAddrs)]
		a := attempt{kind: "mail", start: time.Now()}
		err := smtpSend(addr, "sender@chaos.test", to, body)
		a.end = time.Now()
		a.ok = err == nil
		a.unanswered = isTimeout(err)
		l.record(a)
		if err == nil {
			l.mu.Lock()
			m.acked, m.end = true, a.end
			l.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// smtpSend is one SMTP transaction; nil only on 250 after DATA.
func smtpSend(addr, from, to, body string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(smtpTimeout))
	host, _, _ := net.SplitHostPort(addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("chaos.test"); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	_ = c.Quit()
	return nil
}

// apiTimeout is the API client's wait: above the deliver deadline (30 s).
const apiTimeout = 40 * time.Second

var apiClient = &http.Client{Timeout: apiTimeout}

// call sends one API request as user u, recording it as an attempt of kind.
func (l *load) call(ctx context.Context, kind string, u *apiUser, method, path string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, method, l.api+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	a := attempt{kind: kind, start: time.Now()}
	resp, err := apiClient.Do(req)
	a.end = time.Now()
	if err != nil {
		a.unanswered = isTimeout(err)
		l.record(a)
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	a.end = time.Now()
	if err == nil && resp.StatusCode >= 300 {
		err = fmt.Errorf("%s %s: %s %s", method, path, resp.Status, bytes.TrimSpace(body))
	}
	if err == nil && out != nil {
		err = json.Unmarshal(body, out)
	}
	a.ok = err == nil
	l.record(a)
	return err
}

func (l *load) login(ctx context.Context, name, password string) (*apiUser, error) {
	var ans struct {
		AccessToken string `json:"access_token"`
	}
	if err := l.call(ctx, "login", nil, http.MethodPost, "/authentications",
		map[string]string{"username": name, "password": password}, &ans); err != nil {
		return nil, err
	}
	return &apiUser{name: name, token: ans.AccessToken}, nil
}

// sendDraft writes a draft from one user to the next one and sends it: the
// order is accepted when the send's reply says it was delivered.
func (l *load) sendDraft(ctx context.Context) {
	n := l.next()
	from, to := l.users[n%len(l.users)], l.users[(n+1)%len(l.users)]
	o := l.newOrder("send", fmt.Sprintf("chaos draft %d %d", n, time.Now().UnixNano()))
	o.to = to.name
	var draft struct {
		ID string `json:"message_id"`
	}
	err := l.call(ctx, "send", from, http.MethodPost, "/messages", map[string]any{
		"participants": []map[string]string{{"type": "To", "address": to.name + "@" + l.domain}},
		"subject":      o.key, "body_plain": "sent under faults"}, &draft)
	if err != nil {
		return
	}
	var ans struct {
		Reply struct {
			Error bool `json:"error"`
		} `json:"reply"`
	}
	if err := l.call(ctx, "send", from, http.MethodPost, "/messages/"+draft.ID+"/actions",
		map[string]any{"actions": []string{"send"}}, &ans); err != nil || ans.Reply.Error {
		return
	}
	l.accept(o)
}

// createContact creates a contact: the API stores it with its
// contact_update order, which contact-action applies.
func (l *load) createContact(ctx context.Context) {
	n := l.next()
	u := l.users[n%len(l.users)]
	o := l.newOrder("contact", fmt.Sprintf("chaos-contact-%d-%d", n, time.Now().UnixNano()))
	if err := l.call(ctx, "contact", u, http.MethodPost, "/contacts", map[string]any{"given_name": o.key}, nil); err != nil {
		return
	}
	l.accept(o)
}

// window is what happened from one moment to the next.
type window struct {
	from, to time.Time
}

func (w window) has(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

// p99 of the latencies of the mails acked that started in w.
func (l *load) p99(w window) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lat []time.Duration
	for _, m := range l.mails {
		if w.has(m.start) && m.acked {
			lat = append(lat, m.end.Sub(m.start))
		}
	}
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, len(lat)*99/100)]
}

// recovery is how long after w.from the last failed or slow attempt of w
// (of one of kinds, or of any kind without kinds) ended: from then on
// every request was served in time (full throughput).
func (l *load) recovery(w window, slow time.Duration, kinds ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, a := range l.attempts {
		if a.end.Before(w.from) || !a.end.Before(w.to) || (len(kinds) > 0 && !slices.Contains(kinds, a.kind)) {
			continue
		}
		if (!a.ok || a.end.Sub(a.start) > slow) && a.end.After(last) {
			last = a.end
		}
	}
	if last.IsZero() {
		return 0
	}
	return last.Sub(w.from)
}

func (l *load) unanswered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.attempts {
		if a.unanswered {
			n++
		}
	}
	return n
}
