package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func cmdNotifications(ctx context.Context, a *app, args []string) error {
	fs := a.flags("notifications", "[-follow] [-limit N] [-interval D]",
		"Lists your notifications, newest first. -follow then prints new ones as they come, oldest first, until\n"+
			"interrupted (one JSON object per line with -json).")
	follow := fs.Bool("follow", false, "keep printing new notifications")
	limit := fs.Int("limit", 20, "how many to list first")
	interval := fs.Duration("interval", 2*time.Second, "with -follow: how often to ask")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	return a.notifications(ctx, *follow, *limit, *interval)
}

func cmdWatch(ctx context.Context, a *app, args []string) error {
	fs := a.flags("watch", "[-interval D]", "Prints your notifications as they come, until interrupted (notifications -follow -limit 0).")
	interval := fs.Duration("interval", 2*time.Second, "how often to ask")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	return a.notifications(ctx, true, 0, *interval)
}

// notifications lists the latest limit notifications and, with follow,
// polls for newer ones until ctx ends.
func (a *app) notifications(ctx context.Context, follow bool, limit int, interval time.Duration) error {
	if interval < 100*time.Millisecond {
		return fmt.Errorf("%w: -interval must be at least 100ms", errUsage)
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	fetch := func(n int) ([]notification, []json.RawMessage, error) {
		var page struct {
			Notifications []json.RawMessage `json:"notifications"`
		}
		if _, err := a.get(ctx, s, "GET", "/notifications?limit="+strconv.Itoa(n), nil, &page); err != nil {
			return nil, nil, err
		}
		out := make([]notification, len(page.Notifications))
		for i, r := range page.Notifications {
			if err := json.Unmarshal(r, &out[i]); err != nil {
				return nil, nil, fmt.Errorf("notification: %w", err)
			}
		}
		return out, page.Notifications, nil
	}
	header := []string{"DATE", "TYPE", "EMITTER", "REFERENCE", "BODY"}
	row := func(n notification) []string {
		return []string{when(n.CreatedAt), n.Type, n.Emitter, n.Reference, string(n.Body)}
	}
	// The newest page, remembered so that following prints only what is new.
	const window = 100
	first, raws, err := fetch(max(limit, window))
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range first {
		seen[n.NotificationID] = true
	}
	if limit > 0 {
		first, raws = first[:min(limit, len(first))], raws[:min(limit, len(raws))]
		if a.json && !follow {
			return printValue(a.stdout, map[string]any{"notifications": raws})
		}
		if a.json {
			for _, r := range raws {
				fmt.Fprintln(a.stdout, string(r))
			}
		} else {
			rows := make([][]string, len(first))
			for i, n := range first {
				rows[i] = row(n)
			}
			if err := table(a.stdout, header, rows); err != nil {
				return err
			}
		}
	}
	if !follow {
		return nil
	}
	if limit == 0 && !a.json {
		fmt.Fprintln(a.stderr, "watching notifications; Ctrl-C stops")
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		page, raws, err := fetch(window)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for i := len(page) - 1; i >= 0; i-- { // oldest first
			n := page[i]
			if seen[n.NotificationID] {
				continue
			}
			seen[n.NotificationID] = true
			if a.json {
				fmt.Fprintln(a.stdout, string(raws[i]))
			} else {
				fmt.Fprintln(a.stdout, strings.Join(cells(row(n)), "  "))
			}
		}
		if len(seen) > 10*window { // forget ids that left the window
			seen = map[string]bool{}
			for _, n := range page {
				seen[n.NotificationID] = true
			}
		}
	}
}

func cells(r []string) []string {
	for i := range r {
		r[i] = cell(r[i])
	}
	return r
}
